// YAML text → plain JS value, keeping the document's node ranges so that a validation issue at a
// path (`adapters[1].config.url`) can be reported at its line and column. Syntax errors, duplicate
// keys, non-scalar keys and unresolved aliases are reported here, before any schema runs.
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { formatPath, type ConfigIssue, type PathSegment } from './errors.ts';

export interface Position {
  line: number;
  column: number;
}

export interface YamlSource {
  /** The document as plain JS; undefined when it is empty or could not be read. */
  value: unknown;
  /** Problems found while reading (syntax, duplicate keys…). */
  issues: ConfigIssue[];
  /** True when `value` is not worth validating (syntax errors, empty file). */
  unusable: boolean;
  /**
   * Where the field at `path` is written. A scalar is reported at its value, a section at its key;
   * a path that does not exist (a missing field) at the deepest part that does.
   */
  locate(path: readonly PropertyKey[], on?: 'key' | 'value'): Position;
}

type YamlNode = ReturnType<Document['createNode']>;

export function readYaml(text: string): YamlSource {
  const lineCounter = new LineCounter();
  // uniqueKeys is off because duplicates are reported below with their path; merge keys (`<<`)
  // are allowed so that anchors can share blocks.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, merge: true });
  const pos = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const issues: ConfigIssue[] = [];

  for (const e of [...doc.errors, ...doc.warnings]) {
    issues.push({ path: '', ...pos(e.pos[0]), message: `YAML: ${e.message}` });
  }

  const locate = (path: readonly PropertyKey[], on: 'key' | 'value' = 'value'): Position => {
    let node: unknown = doc.contents;
    let keyOffset = rangeStart(node) ?? 0;
    let resolved = true;
    for (const seg of path) {
      if (isAlias(node)) node = node.resolve(doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) {
          resolved = false;
          break;
        }
        keyOffset = rangeStart(pair.key) ?? keyOffset;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
        node = node.items[seg];
        keyOffset = rangeStart(node) ?? keyOffset;
      } else {
        resolved = false;
        break;
      }
    }
    // A scalar is shown at its value; a block section or a missing field at its key.
    if (!resolved || on === 'key' || isMap(node) || isSeq(node)) return pos(keyOffset);
    return pos(rangeStart(node) ?? keyOffset);
  };

  if (doc.errors.length > 0 || doc.warnings.length > 0) return { value: undefined, issues, unusable: true, locate };
  if (doc.contents === null) {
    issues.push({
      path: '',
      line: 1,
      column: 1,
      message: 'the file is empty (nothing but comments or blank lines); expected a mapping of configuration sections',
    });
    return { value: undefined, issues, unusable: true, locate };
  }

  // Aliases without an anchor and non-scalar keys make the JS value meaningless: stop there.
  // Duplicate keys do not (the last one wins), so the schema still reports what else is wrong.
  if (checkStructure(doc, doc.contents, [], issues, pos)) return { value: undefined, issues, unusable: true, locate };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    issues.push({ path: '', line: 1, column: 1, message: `YAML: ${(err as Error).message}` });
    return { value: undefined, issues, unusable: true, locate };
  }
  return { value, issues, unusable: false, locate };
}

function rangeStart(node: unknown): number | undefined {
  if (node !== null && typeof node === 'object' && 'range' in node) {
    const range = (node as { range?: [number, number, number] | null }).range;
    return range?.[0];
  }
  return undefined;
}

/**
 * Duplicate keys, keys that are not scalars, aliases with no anchor: reported with the path where
 * they occur. Returns true when one of them is fatal (anything but a duplicate key).
 */
function checkStructure(
  doc: Document,
  node: YamlNode | unknown,
  path: PathSegment[],
  issues: ConfigIssue[],
  pos: (offset: number) => Position,
): boolean {
  let fatal = false;
  if (isAlias(node)) {
    if (node.resolve(doc) === undefined) {
      issues.push({ path: formatPath(path), ...pos(rangeStart(node) ?? 0), message: `alias *${node.source} has no anchor before it` });
      fatal = true;
    }
    return fatal; // the anchored node is checked where it is defined
  }
  if (isMap(node)) {
    const seen = new Map<string, number>();
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const at = rangeStart(pair.key) ?? rangeStart(node) ?? 0;
      if (!isScalar(pair.key) || (pair.key.value !== null && typeof pair.key.value === 'object')) {
        issues.push({ path: formatPath(path), ...pos(at), message: 'keys must be plain scalars (strings)' });
        fatal = true;
        continue;
      }
      const key = String(pair.key.value);
      const first = seen.get(key);
      if (first !== undefined) {
        issues.push({
          path: formatPath([...path, key]),
          ...pos(at),
          message: `duplicate key (first defined on line ${pos(first).line})`,
        });
      } else {
        seen.set(key, at);
      }
      fatal = checkStructure(doc, pair.value, [...path, key], issues, pos) || fatal;
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      fatal = checkStructure(doc, item, [...path, i], issues, pos) || fatal;
    });
  }
  return fatal;
}
