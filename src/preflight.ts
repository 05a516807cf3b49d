/**
 * What `--check-config` loads beyond the YAML itself: every file the broker reads
 * when it starts (password file, ACL file, TLS certificates and keys of listeners, bridges and the admin listener), parsed the way
 * start parses them, short of binding ports. Each problem names the configuration key,
 * the file and the fix.
 *
 * @module
 */
import { X509Certificate } from "node:crypto";
import { parseAclFile } from "./auth/acl_file.ts";
import { parsePasswordFile } from "./auth/password_file.ts";
import type { BrokerConfig } from "./config/schema.ts";
import { validateCertificatePair } from "./transport/tls.ts";

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

/** A CA bundle must hold at least one PEM certificate, the first of which parses. */
function checkCaFile(path: string): void {
  const text = readText(path);
  try {
    new X509Certificate(text);
  } catch {
    throw new Error(`${path}: not a PEM certificate bundle (expected "-----BEGIN CERTIFICATE-----")`);
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
  config.listeners.forEach((l, i) => {
    if (l.type !== "tls" && l.type !== "wss") return;
    const key = `listeners[${i}]`;
    if (l.cert_file !== undefined && l.key_file !== undefined) {
      attempt(problems, `${key}.cert_file`, () => validateCertificatePair(l.cert_file!, l.key_file!));
    }
    if (l.ca_file !== undefined) attempt(problems, `${key}.ca_file`, () => checkCaFile(l.ca_file!));
  });
  (config.bridges ?? []).forEach((b, i) => {
    const key = `bridges[${i}]`;
    if (b.cert_file !== undefined && b.key_file !== undefined) {
      attempt(problems, `${key}.cert_file`, () => validateCertificatePair(b.cert_file!, b.key_file!));
    }
    if (b.ca_file !== undefined) attempt(problems, `${key}.ca_file`, () => checkCaFile(b.ca_file!));
  });
  const admin = config.admin;
  if (admin.enabled && admin.cert_file !== undefined && admin.key_file !== undefined) {
    attempt(problems, "admin.cert_file", () => validateCertificatePair(admin.cert_file!, admin.key_file!));
  }
  return problems;
}
