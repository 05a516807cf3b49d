/**
 * What `--check-config` loads beyond the YAML itself: every file the broker reads
 * when it starts (password file, ACL file, TLS certificates and keys of listeners,
 * bridges and the admin listener), parsed the way start parses them, short of binding
 * ports. Each problem names the configuration key, the file and the fix.
 *
 * @module
 */
import { parseAclFile } from "./auth/acl_file.ts";
import { parsePasswordFile } from "./auth/password_file.ts";
import type { BrokerConfig } from "./config/schema.ts";
import { checkCertificates } from "./server.ts";

/** Runs `check`, turning a throw into one problem line under `key`. */
function attempt(problems: string[], key: string, check: () => void): void {
  try {
    check();
  } catch (err) {
    problems.push(`${key}: ${(err as Error).message}`);
  }
}

function readText(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    throw new Error(`${path}: cannot read the file (${(err as Error).message})`);
  }
}

/** Every problem start would meet in the files the configuration names; empty when there is none. */
export function preflight(config: BrokerConfig): string[] {
  const problems: string[] = [];
  const { password_file: passwords, acl_file: acl } = config.auth;
  if (passwords !== undefined) {
    attempt(problems, "auth.password_file", () => void parsePasswordFile(readText(passwords), passwords));
  }
  if (acl !== undefined) attempt(problems, "auth.acl_file", () => void parseAclFile(readText(acl), acl));
  // Certificates are checked by the same functions that start and SIGHUP use (server.ts, tls.ts).
  problems.push(...checkCertificates(config));
  return problems;
}
