#!/usr/bin/env node
// Entry point of the `causeway` command. Node 24 runs the TypeScript sources directly (type
// stripping), so there is no build step and nothing generated in the tree.
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  console.error(`causeway needs Node 22.18 or newer (24 LTS recommended); this is Node ${process.versions.node}`);
  process.exit(1);
}
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
