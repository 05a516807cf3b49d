/**
 * Users of a broker's password file for tests: each user's password is
 * "<user>-pw", hashed with few iterations (cheap: tests only).
 */
import { hashPassword } from "../../src/auth/password_file.ts";

/** Writes a password file with one `<user>:<hash of "<user>-pw">` line per user. */
export async function writeUsers(path: string, users: string[]): Promise<void> {
  const lines = await Promise.all(users.map(async (u) => `${u}:${await hashPassword(`${u}-pw`, 1000)}`));
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
}

/** mqtt.js login options of a user written by {@link writeUsers}. */
export const login = (user: string) => ({ username: user, password: `${user}-pw` });
