// The benchmark's binding of `musubi-wasm/react` (see the binding contract at the top of app.jsx).
import { createElement } from "react";
import { connect } from "musubi-wasm";
import { MusubiProvider, useRoot as useMusubiRoot, useStore } from "musubi-wasm/react";

export const name = "musubi-wasm";
export { connect };

/** The provider on an app-owned connection. */
export const Provider = ({ connection, children }) => createElement(MusubiProvider, { connection }, children);
export const useRoot = (module, id) => useMusubiRoot(module, id);
export const isReady = (root) => root.store !== null;
export const useSelected = (root, selector) => useStore(root, selector);
export const useSnapshot = (root) => useStore(root);
