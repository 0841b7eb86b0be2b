import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The Musubi (Phoenix) server; MUSUBI_SERVER=ws://host:port overrides it.
const musubiServer = process.env.MUSUBI_SERVER ?? "ws://127.0.0.1:4000";

// https://vite.dev/config/
export default defineConfig({
  plugins: [react()],
  server: {
    // The page connects to "/socket" on its own origin: forward the WebSocket upgrades to the
    // Musubi server (`vite preview` uses the same proxy).
    proxy: { "/socket": { target: musubiServer, ws: true } },
  },
  // Serve musubi-wasm's files as they are: older Vite versions pre-bundle them into
  // node_modules/.vite/deps, away from the .wasm they load with
  // `new URL("musubi_wasm_bg.wasm", import.meta.url)`.
  optimizeDeps: { exclude: ["musubi-wasm"] },
});
