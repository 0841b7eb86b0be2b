// musubi-wasm/react: placeholder until the hooks land (see target/spec-14.md).
export {};
