// Loading the two kinds of config file the `causeway` command reads: the sidecar's own (with every
// adapter's config validated by its registered schema, in the same pass) and the mock hub's (a
// bare mock hub config, or the `mock_hub` section of a sidecar config).
import { mockHubConfigSchema, type MockHubConfig } from '../mock-hub/config.ts';
import { validateAdapters, type AdapterSchemaRegistry } from './adapters.ts';
import { ConfigError } from './errors.ts';
import { parseConfigText, readConfigText, topLevelKeys } from './load.ts';
import { CONFIG_SECTIONS, REMOVED_KEYS, configSchema, type CausewayConfig } from './schema.ts';

/**
 * Validates sidecar config text. With a registry, each `adapters[N].config` is replaced by its
 * validated output (defaults applied, secrets resolved); without one, adapter configs are left as
 * read and their types are not checked.
 */
export function parseCausewayConfig(text: string, fileName: string, registry?: AdapterSchemaRegistry): CausewayConfig {
  return parseConfigText(text, fileName, configSchema, {
    removed: REMOVED_KEYS,
    check: (raw, parsed) => {
      if (registry === undefined) return [];
      const { issues, configs } = validateAdapters(raw, registry);
      if (parsed !== undefined && issues.length === 0) {
        parsed.adapters.forEach((a, i) => {
          a.config = configs[i];
        });
      }
      return issues;
    },
  });
}

export function loadCausewayConfig(file: string, registry?: AdapterSchemaRegistry): CausewayConfig {
  return parseCausewayConfig(readConfigText(file), file, registry);
}

/**
 * Validates a mock hub config: the `mock_hub` section when the file has one (the rest of the file
 * is not validated: the mock hub needs none of it), else the whole file as a bare mock hub config.
 */
export function parseMockHubConfig(text: string, fileName: string): MockHubConfig {
  const keys = topLevelKeys(text);
  if (keys.includes('mock_hub')) return parseConfigText(text, fileName, mockHubConfigSchema, { at: ['mock_hub'] });
  const mockHubKeys = Object.keys(mockHubConfigSchema.shape);
  if (keys.every((k) => CONFIG_SECTIONS.includes(k)) && keys.some((k) => !mockHubKeys.includes(k))) {
    throw new ConfigError(fileName, [
      { path: 'mock_hub', line: 0, column: 0, message: 'this Causeway config has no mock_hub section' },
    ]);
  }
  return parseConfigText(text, fileName, mockHubConfigSchema);
}

export function loadMockHubConfig(file: string): MockHubConfig {
  return parseMockHubConfig(readConfigText(file), file);
}
