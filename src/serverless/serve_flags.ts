/**
 * The flags `deno task serverless` takes (serverless_local.ts). The task passes
 * its default address as flags (`--host 127.0.0.1 --port 8000`); flags given to
 * the task follow them, and the last of each wins.
 *
 * @module
 */

export interface ServeFlags {
  /** The address to serve on; absent when no flag names one. */
  listen?: { hostname: string; port: number };
  help: boolean;
}

export const SERVE_USAGE = `Usage: deno task serverless [--host ADDRESS] [--port N]

  --host ADDRESS  address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --port N        port to listen on (default 8000; 0 = any free port)
  -h, --help      print this help and exit

MQTT over WebSocket is served at ws://ADDRESS:N/mqtt. Environment: see serverless.ts.`;

/** Parses the flags; an error message for anything else. */
export function parseServeFlags(args: string[]): ServeFlags | { error: string } {
  let hostname: string | undefined;
  let port: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf("=");
    const [flag, inline] = arg.startsWith("--") && eq > 0
      ? [arg.slice(0, eq), arg.slice(eq + 1)]
      : [arg, undefined];
    const value = () => inline ?? args[++i];
    switch (flag) {
      case "--host":
      case "--hostname":
        hostname = value();
        if (!hostname) return { error: `${flag} needs an address` };
        break;
      case "--port": {
        const text = value();
        const n = Number(text);
        if (!/^\d+$/.test(text ?? "") || n > 65535) {
          return { error: `--port must be an integer 0..65535, got ${text}` };
        }
        port = n;
        break;
      }
      case "-h":
      case "--help":
        return { help: true };
      default:
        return { error: `unknown argument ${arg}` };
    }
  }
  if (hostname === undefined && port === undefined) return { help: false };
  return { help: false, listen: { hostname: hostname ?? "127.0.0.1", port: port ?? 8000 } };
}
