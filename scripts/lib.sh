# Shared by scripts/dev and scripts/test: what a fresh machine lacks.

WASMTIME_VERSION=48.0.8

# The wasm target, and wasmtime-cli 48.0.8 in ~/.cargo/bin, first on PATH so a
# different wasmtime elsewhere on PATH (a package, an old install) never wins.
ensure_wasm_tools() {
  rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
  export PATH="$HOME/.cargo/bin:$PATH"
  # `wasmtime 48.0.8 (abc 2025-…)` from a cargo build, plain `wasmtime 48.0.8` from others.
  if ! "$HOME/.cargo/bin/wasmtime" --version 2>/dev/null | grep -Eq "^wasmtime ${WASMTIME_VERSION}( |$)"; then
    echo "installing wasmtime-cli ${WASMTIME_VERSION} into ~/.cargo/bin (about 10 minutes on 2 cores)"
    # --force: replace a wasmtime of another version that cargo did not track.
    cargo install "wasmtime-cli@${WASMTIME_VERSION}" --locked --force
  fi
}
