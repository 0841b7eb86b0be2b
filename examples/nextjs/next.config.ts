import type { NextConfig } from "next";

// The Musubi (Phoenix) server; MUSUBI_SERVER=http://host:port overrides it. `next build` records
// it in the build, so set it when you build (and for `next dev`).
const musubiServer = process.env.MUSUBI_SERVER ?? "http://127.0.0.1:4000";

const nextConfig: NextConfig = {
  // The browser connects to "/socket" on this origin; `next dev` and `next start` forward its
  // WebSocket upgrades to the Musubi server.
  async rewrites() {
    return [{ source: "/socket/:path*", destination: `${musubiServer}/socket/:path*` }];
  },
};

export default nextConfig;
