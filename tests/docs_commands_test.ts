/**
 * Every `deno task …` command shown in README.md and docs/*.md runs as written.
 * Two README commands once failed on their own `--` ("unknown argument --"): the
 * documented forms are extracted from the Markdown (code blocks and inline code),
 * and each is run with `--help` appended, which the scripts answer only after
 * checking the rest of the line. Tasks that cannot run inside a test (the suite
 * itself, a server, `deno compile`) must be documented without arguments.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url).pathname;

/** Tasks whose script checks its arguments, then answers `--help` with a usage text and status 0. */
const HELP_TASKS = new Set([
  "start",
  "loadgen",
  "bench:compare",
  "bench:gate",
  "bench:idle",
  "bench:heap",
  "passwd",
]);

export interface DocumentedCommand {
  file: string;
  task: string;
  args: string[];
}

/** The code in a Markdown text: fenced block lines, and inline spans (which may wrap lines). */
export function codeSnippets(markdown: string): string[] {
  const snippets: string[] = [];
  const prose: string[] = [];
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.trimStart().startsWith("```")) {
      fenced = !fenced;
      continue;
    }
    if (fenced) snippets.push(line);
    else prose.push(line);
  }
  // Paragraphs, so that an inline span cut by a line break stays whole (Markdown joins it with a space).
  for (const paragraph of prose.join("\n").split(/\n\s*\n/)) {
    for (const m of paragraph.matchAll(/`([^`]+)`/g)) snippets.push(m[1].replace(/\s*\n\s*/g, " "));
  }
  return snippets;
}

/** The `deno task` commands in one snippet, without shell comments; `[-c]` (optional) becomes `-c`. */
export function taskCommands(snippet: string): { task: string; args: string[] }[] {
  const found: { task: string; args: string[] }[] = [];
  for (const m of snippet.matchAll(/deno task\s+([^#&|;]*)/g)) {
    const tokens = m[1].trim().split(/\s+/).filter((t) => t !== "").map((t) =>
      t.replace(/^\[(-\w+)\]$/, "$1")
    );
    // Options of `deno task` itself come before the task name.
    while (tokens[0] === "--cwd" || tokens[0] === "--config") tokens.splice(0, 2);
    const [task, ...args] = tokens;
    if (task !== undefined && !task.startsWith("-")) found.push({ task, args });
  }
  return found;
}

async function documentedCommands(): Promise<DocumentedCommand[]> {
  const files = ["README.md"];
  for await (const entry of Deno.readDir(`${root}docs`)) {
    if (entry.name.endsWith(".md")) files.push(`docs/${entry.name}`);
  }
  const commands: DocumentedCommand[] = [];
  for (const file of files.sort()) {
    for (const snippet of codeSnippets(await Deno.readTextFile(`${root}${file}`))) {
      for (const command of taskCommands(snippet)) commands.push({ file, ...command });
    }
  }
  return commands;
}

const tasks = Object.keys(JSON.parse(await Deno.readTextFile(`${root}deno.json`)).tasks);
const commands = await documentedCommands();

Deno.test("the documentation's deno task commands are found, the README's load generator and comparison among them", () => {
  const lines = commands.map((c) => [c.task, ...c.args].join(" "));
  assert.ok(lines.includes("loadgen -- --scenario fanout --port 1883"), lines.join("\n"));
  assert.ok(lines.includes("bench:compare -- --runs 3"), lines.join("\n"));
});

Deno.test("code spans cut by a line break are read whole, and shell comments are left out", () => {
  const markdown =
    "text `deno task loadgen -- --qos 1\n--proto 5` more\n\n```sh\ndeno task bench   # micro\n```\n";
  const found = codeSnippets(markdown).flatMap(taskCommands);
  assert.deepEqual(found, [
    { task: "bench", args: [] },
    { task: "loadgen", args: ["--", "--qos", "1", "--proto", "5"] },
  ]);
});

Deno.test("every documented deno task names a task of deno.json", () => {
  const unknown = commands.filter((c) => !tasks.includes(c.task));
  assert.deepEqual(unknown, []);
});

Deno.test("documented tasks that cannot run in a test are shown without arguments", () => {
  const withArgs = commands.filter((c) => !HELP_TASKS.has(c.task) && c.args.length > 0);
  assert.deepEqual(withArgs, []);
});

Deno.test("every documented deno task command with its arguments is accepted (run with --help)", async () => {
  const unique = new Map<string, DocumentedCommand>();
  for (const c of commands) if (HELP_TASKS.has(c.task)) unique.set([c.task, ...c.args].join(" "), c);
  // Also the tasks documented bare: their own arguments in deno.json (bench:gate's) are checked too.
  const failures: string[] = [];
  const queue = [...unique.values()];
  const worker = async () => {
    for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["task", c.task, ...c.args, "--help"],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      if (out.code !== 0 || !/usage/i.test(stdout)) {
        failures.push(
          `${c.file}: deno task ${[c.task, ...c.args].join(" ")} → status ${out.code}\n` +
            new TextDecoder().decode(out.stderr),
        );
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  assert.ok(unique.size >= 8, `only ${unique.size} commands found`);
  assert.deepEqual(failures, []);
});
