// Liveness for the container's healthcheck: 200 once the server answers and
// can sign people in (a production server without NEXTAUTH_SECRET cannot).
import { NextResponse } from "next/server";

export const dynamic = "force-dynamic";
export function GET() {
  if (process.env.NODE_ENV === "production" && !process.env.NEXTAUTH_SECRET)
    return NextResponse.json({ status: "unhealthy", reason: "NEXTAUTH_SECRET is not set" }, { status: 503 });
  return NextResponse.json({ status: "ok" });
}
