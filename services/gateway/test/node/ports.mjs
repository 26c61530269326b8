// Prints free loopback ports for one isolated devstack as shell assignments:
// NATS_PORT, SIM_PORT, HTTP_PORT (with HTTP_PORT+1 free for the WebSocket, as
// web3.js expects) and OPS_BASE (six consecutive free ports).
import net from "node:net";

const free = (port) =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen({ port, host: "127.0.0.1", exclusive: true }, () => s.close(() => resolve(true)));
  });

const taken = new Set();
async function run(n) {
  for (let tries = 0; tries < 500; tries++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = !taken.has(base + i) && (await free(base + i));
    if (ok) {
      for (let i = 0; i < n; i++) taken.add(base + i);
      return base;
    }
  }
  throw new Error(`no ${n} consecutive free ports`);
}

const out = {
  NATS_PORT: await run(1),
  SIM_PORT: await run(1),
  HTTP_PORT: await run(2),
  OPS_BASE: await run(6),
};
for (const [k, v] of Object.entries(out)) console.log(`${k}=${v}`);
