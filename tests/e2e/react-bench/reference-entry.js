// The entry of the reference bundle (built by `node tests/e2e/react-bench/build.mjs`, never kept
// in the repository): the TypeScript reference client and its React package behind the
// benchmark's binding (see the binding contract at the top of app.jsx). `@musubi/client` and
// `@musubi/react` are resolved to a checkout of the reference by the build; React stays external.
import { Socket } from "phoenix";
import { createElement } from "react";
import { connect as connectSocket } from "@musubi/client";
import { createMusubi } from "@musubi/react";

const musubi = createMusubi();

export const name = "reference";

/** A Phoenix socket on `url` and the reference's connection over it. */
export function connect(url) {
  const socket = new Socket(url);
  socket.connect();
  return connectSocket(socket);
}

/** The provider on an app-owned connection. */
export const Provider = ({ connection, children }) => createElement(musubi.MusubiProvider, { connection }, children);
export const useRoot = (module, id) => musubi.useMusubiRoot({ module, id });
export const isReady = (root) => root.status === "ready";
export const useSelected = (root, selector) => musubi.useMusubiSnapshot(root.store, selector);
export const useSnapshot = (root) => musubi.useMusubiSnapshot(root.store);
