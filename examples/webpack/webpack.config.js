import path from "node:path";

export default {
  mode: "production",
  entry: "./src/index.js",
  output: {
    path: path.resolve(import.meta.dirname, "dist"),
    filename: "main.js",
  },
  performance: {
    // The .wasm (about 300 kB gzipped) is not part of the JS bundle: the browser compiles it
    // while it downloads. Keep it out of webpack's size warnings.
    assetFilter: (file) => !file.endsWith(".wasm"),
  },
};
