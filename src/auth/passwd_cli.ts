/**
 * `deno task passwd FILE USER` — adds or changes a user in a password file.
 *
 *   deno task passwd [-c] FILE USER      prompt twice (terminal) or read one line (stdin)
 *   deno task passwd -D FILE USER        delete the user
 *
 * The file is written atomically (temporary file + rename) with mode 0600.
 *
 * @module
 */
import { formatPasswordFile, hashPassword, parsePasswordFile } from "./password_file.ts";

async function readLine(): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = await Deno.stdin.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
    if (text.includes("\n")) break;
  }
  return text.split("\n")[0].replace(/\r$/, "");
}

/** Reads a password without echo from a terminal. */
async function promptHidden(question: string): Promise<string> {
  await Deno.stdout.write(new TextEncoder().encode(question));
  Deno.stdin.setRaw(true);
  let out = "";
  try {
    const buf = new Uint8Array(1);
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null || buf[0] === 13 || buf[0] === 10) break;
      if (buf[0] === 3) throw new Error("interrupted");
      if (buf[0] === 127) out = out.slice(0, -1);
      else out += String.fromCharCode(buf[0]);
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stdout.write(new TextEncoder().encode("\n"));
  }
  return out;
}

const USAGE = "usage: deno task passwd [-c | -D] FILE USER   (user names cannot contain ':')";

export async function passwd(argv: string[]): Promise<number> {
  // `deno task passwd -- …` passes the `--` on as an argument.
  const args = argv[0] === "--" ? argv.slice(1) : argv;
  const help = args.includes("--help") || args.includes("-h");
  const create = args.includes("-c");
  const remove = args.includes("-D");
  const [file, user, extra] = args.filter((a) => !["-c", "-D", "--help", "-h"].includes(a));
  if (help && file === undefined) {
    console.log(USAGE);
    return 0;
  }
  if (!file || !user || user.includes(":") || extra !== undefined || file.startsWith("-")) {
    console.error(USAGE);
    return 2;
  }
  if (help) {
    // After the check above, so that `… --help` also tells whether the rest of the line is right.
    console.log(USAGE);
    return 0;
  }
  let users = new Map<string, string>();
  try {
    users = parsePasswordFile(await Deno.readTextFile(file), file);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound) || (!create && !remove)) {
      console.error(
        err instanceof Deno.errors.NotFound
          ? `${file} does not exist (use -c to create it)`
          : (err as Error).message,
      );
      return 1;
    }
  }
  if (remove) {
    if (!users.delete(user)) {
      console.error(`${user} is not in ${file}`);
      return 1;
    }
  } else {
    let password: string;
    if (Deno.stdin.isTerminal()) {
      password = await promptHidden("Password: ");
      if (password !== await promptHidden("Again: ")) {
        console.error("the passwords differ");
        return 1;
      }
    } else {
      password = await readLine();
    }
    if (password === "") {
      console.error("empty password refused");
      return 1;
    }
    users.set(user, await hashPassword(password));
  }
  const tmp = `${file}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, formatPasswordFile(users), { mode: 0o600 });
  await Deno.rename(tmp, file);
  return 0;
}

if (import.meta.main) Deno.exit(await passwd(Deno.args));
