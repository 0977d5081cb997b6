// Configuration errors: every problem found in a config file, each with the file, the field's path
// in YAML key spelling (`adapters[1].config.url`), its line and column, and a readable message.
// A loader collects all issues of one file before throwing, so that one run reports everything.

/** One problem in a configuration file. `line`/`column` are 1-based; 0 when not tied to a place. */
export interface ConfigIssue {
  /** Dotted/bracketed path of the field (`hub.session.max_open`, `adapters[1].config.url`); '' for the file. */
  path: string;
  line: number;
  column: number;
  message: string;
}

export type PathSegment = string | number;

/** An issue before it is placed in the file: a path into the parsed value and a message. */
export interface PathIssue {
  path: readonly PropertyKey[];
  message: string;
  /** Report at the key rather than the value (unknown keys, duplicates). */
  on?: 'key' | 'value';
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `['adapters', 1, 'config', 'url']` → `adapters[1].config.url`; odd keys are quoted: `a["x y"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && PLAIN_KEY.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

/** All issues of one configuration file. `message` is `format()`, so an uncaught one still reads well. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly file: string;
  readonly issues: readonly ConfigIssue[];

  constructor(file: string, issues: readonly ConfigIssue[]) {
    const sorted = [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
    super(formatIssues(file, sorted));
    this.file = file;
    this.issues = sorted;
  }

  /** One issue per line: `FILE:LINE:COL: PATH: MESSAGE` (the place or path left out when there is none). */
  format(): string {
    return formatIssues(this.file, this.issues);
  }
}

function formatIssues(file: string, issues: readonly ConfigIssue[]): string {
  return issues
    .map((i) => {
      const where = i.line > 0 ? `${file}:${i.line}:${i.column}` : file;
      return i.path === '' ? `${where}: ${i.message}` : `${where}: ${i.path}: ${i.message}`;
    })
    .join('\n');
}
