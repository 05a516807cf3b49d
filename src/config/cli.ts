/**
 * Command-line arguments of main.ts.
 *
 * @module
 */

export interface CliOptions {
  config?: string;
  help: boolean;
  version: boolean;
  checkConfig: boolean;
  logLevel?: string;
  port?: number;
}

const LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"];

export function usage(): string {
  return `Usage: deno task start [options]

Options:
  -c, --config FILE     YAML configuration file (default: the built-in configuration)
      --check-config    validate the configuration and exit (0 = valid)
      --log-level LEVEL trace | debug | info | warning | error | fatal (overrides log.level)
      --port N          override the port of the first listener
  -V, --version         print the version and exit
  -h, --help            print this help and exit
`;
}

/** Parses arguments; returns an error message for anything it does not understand. */
export function parseArgs(argv: string[]): CliOptions | { error: string } {
  // `deno task start -- --config …` passes the `--` on as an argument.
  const args = argv[0] === "--" ? argv.slice(1) : argv;
  const out: CliOptions = { help: false, version: false, checkConfig: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = () => inline ?? args[++i];
    switch (flag) {
      case "-c":
      case "--config":
        out.config = value();
        if (!out.config) return { error: `${flag} needs a file name` };
        break;
      case "--check-config":
        out.checkConfig = true;
        break;
      case "--log-level": {
        const level = value();
        if (!LEVELS.includes(level)) return { error: `--log-level must be one of ${LEVELS.join(", ")}` };
        out.logLevel = level;
        break;
      }
      case "--port": {
        const port = Number(value());
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          return { error: "--port must be an integer 0..65535" };
        }
        out.port = port;
        break;
      }
      case "-V":
      case "--version":
        out.version = true;
        break;
      case "-h":
      case "--help":
        out.help = true;
        break;
      default:
        return { error: `unknown argument ${arg}` };
    }
  }
  return out;
}
