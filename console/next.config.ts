import type { NextConfig } from "next";

const config: NextConfig = {
  output: "standalone",
  poweredByHeader: false,
  reactStrictMode: true,
  experimental: { optimizePackageImports: ["@radix-ui/themes", "recharts"] },
  async headers() {
    return [
      {
        source: "/:path*",
        headers: [
          { key: "X-Content-Type-Options", value: "nosniff" },
          { key: "Referrer-Policy", value: "same-origin" },
          { key: "X-Frame-Options", value: "DENY" },
          // Scripts, styles, fetches and event streams from this origin only (the browser never
          // talks to aionOS itself). Inline: Next's bootstrap, Recharts' and CodeMirror's styles.
          // Development needs eval for Fast Refresh: production only.
          ...(process.env.NODE_ENV === "production"
            ? [{
                key: "Content-Security-Policy",
                value:
                  "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
                  "img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; " +
                  "base-uri 'self'; form-action 'self'; object-src 'none'",
              }]
            : []),
        ],
      },
    ];
  },
};

export default config;
