import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { MusubiProvider } from "musubi-wasm/react";
import App from "./App.tsx";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <MusubiProvider url="/socket">
      <App />
    </MusubiProvider>
  </StrictMode>,
);
