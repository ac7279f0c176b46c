import { handle } from "@/lib/route";

export const dynamic = "force-dynamic";
export async function GET() {
  return handle(undefined, (me) => me.control.intents());
}
