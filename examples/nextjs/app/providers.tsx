"use client";

import type { ReactNode } from "react";
import { MusubiProvider } from "musubi-wasm/react";

// "/socket" on this origin (forwarded by the rewrite in next.config.ts), unless the build sets
// NEXT_PUBLIC_MUSUBI_SOCKET (inlined into the client bundle), e.g. wss://api.example.com/socket.
const socketUrl = process.env.NEXT_PUBLIC_MUSUBI_SOCKET ?? "/socket";

// One connection for every page under the root layout: it opens in the browser (never during the
// server render) and stays open across client-side navigations.
export function Providers({ children }: { children: ReactNode }) {
  return <MusubiProvider url={socketUrl}>{children}</MusubiProvider>;
}
