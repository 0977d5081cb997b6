// The `causeway` command's usage text: every command and its options.

export const USAGE = `Usage: causeway <command> [options]

Causeway: a sidecar that lets a messaging provider interoperate with an end-to-end encrypted hub
over HIP/1.

Commands:
  help                      Show this help (also: causeway --help, or no command at all).

  start [options]           Run the sidecar until SIGINT/SIGTERM (a mock_hub section in the config
                            also runs that mock hub in-process, for development).
      -c, --config FILE     The configuration file (default: $CAUSEWAY_CONFIG).
      -p, --port N          Listen on this port (overrides server.port).
      --log-level LEVEL     Overrides logging.level.
      --pretty / --json     Overrides logging.pretty.

  check-config FILE         Validate a configuration file (every section, and each adapter's
                            config with its type's schema). Prints "FILE: ok" and a summary, or
                            one line per problem as FILE:LINE:COL: PATH: MESSAGE (exit 1).

  mock-hub [options]        Run the HIP/1 mock hub until SIGINT/SIGTERM.
      -c, --config FILE     A mock hub config, or a Causeway config with a mock_hub section
                            (default: the embedded development config).
      -p, --port N          Listen on this port (overrides listen.port; 0 picks a free one).
      --host H              Listen on this host (overrides listen.host).
      --log-level LEVEL     fatal | error | warn | info | debug | trace (default: info).
      --pretty / --json     Human-readable log lines / JSON lines (default: pretty on a terminal).

  keygen                    Print fresh secrets as .env lines: CAUSEWAY_SIGNING_KEY (Ed25519,
                            PKCS#8 DER in base64), CAUSEWAY_KEK (32 bytes, base64),
                            CAUSEWAY_MOCK_HUB_ADMIN_TOKEN, CAUSEWAY_WEBHOOK_API_TOKEN,
                            CAUSEWAY_WEBHOOK_SECRET. Used by docker-compose.yml.

  matrix-registration [options]
                            Print the Matrix appservice registration file (YAML, with both
                            tokens in clear) of the config's matrix adapter.
      -c, --config FILE     The configuration file (default: $CAUSEWAY_CONFIG).
      --adapter ID          Which matrix adapter, when the file has several.

  keys rotate [options]     Re-seal every record in Redis under store.active_key_id (after adding
                            a new key-encryption key); then the old key can be removed.
      -c, --config FILE     The configuration file (default: $CAUSEWAY_CONFIG).
      --dry-run             Only count what would be re-sealed.

  dead-letters list|replay [ID] [options]
                            List what failed for good (outbound messages; webhook events the
                            provider never acknowledged), or put one back in line by its id.
      -c, --config FILE     The configuration file (default: $CAUSEWAY_CONFIG).

  demo                      Run the end-to-end demo: a sidecar and the mock hub on loopback,
                            with the embedded development config.

Every command accepts -h / --help.

Environment:
  CAUSEWAY_CONFIG                 The configuration file of \`start\` when --config is not given.
  CAUSEWAY_MOCK_HUB_ADMIN_TOKEN   Control-API token of the mock hub when no --config is given
                                  (otherwise a random one is used).
  CAUSEWAY_DEBUG                  When set, failures print their stack trace.
`;
