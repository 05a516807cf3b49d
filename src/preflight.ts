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
import { listenerCertificates } from "./transport/listener.ts";
import { CertificateError, validateCaBundle, validateCertificatePair } from "./transport/tls.ts";

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

/** Files that may hold certificates, keys or CA bundles, by their configuration key. */
type CertificateFiles = { cert_file?: string; key_file?: string; ca_file?: string };

/** Runs `check`; a failure becomes one line under the key of the file at fault (the pair's cert_file otherwise). */
function certificateProblem(
  problems: string[],
  prefix: string,
  files: CertificateFiles,
  check: () => void,
): void {
  try {
    check();
  } catch (err) {
    const file = err instanceof CertificateError ? err.file : undefined;
    const key = (["cert_file", "key_file", "ca_file"] as const).find((k) => files[k] === file) ?? "cert_file";
    problems.push(`${prefix}.${key}: ${(err as Error).message}`);
  }
}

/**
 * Checks every certificate, key and CA file the configuration names (tls and wss
 * listeners, bridges, the admin listener) with the functions start and SIGHUP use
 * (src/transport/tls.ts), without binding anything. Returns one line per problem, under
 * the key of the file at fault (`listeners[1].key_file: the key in … does not match …`);
 * empty when there is none.
 */
export function checkCertificates(config: BrokerConfig): string[] {
  const problems: string[] = [];
  config.listeners.forEach((l, i) => {
    if ((l.type !== "tls" && l.type !== "wss") || l.cert_file === undefined || l.key_file === undefined) {
      return;
    }
    certificateProblem(problems, `listeners[${i}]`, l, () => void listenerCertificates(l));
  });
  (config.bridges ?? []).forEach((b, i) => {
    const key = `bridges[${i}]`;
    if (b.cert_file !== undefined && b.key_file !== undefined) {
      certificateProblem(problems, key, b, () => void validateCertificatePair(b.cert_file!, b.key_file!));
    }
    if (b.ca_file !== undefined) {
      certificateProblem(problems, key, b, () => void validateCaBundle(b.ca_file!));
    }
  });
  const a = config.admin;
  if (a.enabled && a.cert_file !== undefined && a.key_file !== undefined) {
    certificateProblem(problems, "admin", a, () => void validateCertificatePair(a.cert_file!, a.key_file!));
  }
  return problems;
}

/** Every problem start would meet in the files the configuration names; empty when there is none. */
export function preflight(config: BrokerConfig): string[] {
  const problems: string[] = [];
  const { password_file: passwords, acl_file: acl } = config.auth;
  if (passwords !== undefined) {
    attempt(problems, "auth.password_file", () => void parsePasswordFile(readText(passwords), passwords));
  }
  if (acl !== undefined) attempt(problems, "auth.acl_file", () => void parseAclFile(readText(acl), acl));
  problems.push(...checkCertificates(config));
  return problems;
}
