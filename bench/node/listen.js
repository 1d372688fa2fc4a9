// Where a peer listens, from its command line: `node <peer>.js HOST PORT`.
"use strict";

function address(argv) {
  const [host, port] = argv.slice(2);
  if (!host || !/^\d+$/.test(port || "")) {
    console.error("usage: node <peer>.js HOST PORT (for example: node ws.js 127.0.0.1 9000)");
    process.exit(2);
  }
  return { host, port: Number(port) };
}

module.exports = { address };
