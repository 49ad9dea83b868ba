// Calls ListStyles and StylizeTiles on a Tessera server with a client built from proto/ by
// @grpc/proto-loader. Usage: node node_client.mjs HOST:PORT STYLE WIDTH HEIGHT < rgb-bytes
// Prints JSON: the style ids, the accepted version and each tile result (pixels in base64).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const here = path.dirname(fileURLToPath(import.meta.url));
const protoRoot = path.resolve(here, "../../proto");
const definition = protoLoader.loadSync("tessera/v1/style_transfer.proto", {
  includeDirs: [protoRoot], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
});
const tessera = grpc.loadPackageDefinition(definition).tessera.v1;

const [address, style, width, height] = process.argv.slice(2);
const pixels = readFileSync(0);
const client = new tessera.StyleTransfer(address, grpc.credentials.createInsecure());
const deadline = () => new Date(Date.now() + 20000);

client.ListStyles({}, { deadline: deadline() }, (error, reply) => {
  if (error) throw error;
  const styles = reply.styles.map((s) => s.id);
  const results = [];
  let version = 0;
  const call = client.StylizeTiles({ deadline: deadline() });
  call.on("data", (message) => {
    if (message.message === "accepted") version = message.accepted.version;
    else results.push({ ...message.tile, rgb: Buffer.from(message.tile.rgb).toString("base64") });
  });
  call.on("error", (e) => { console.error(e.message); process.exit(1); });
  call.on("end", () => {
    console.log(JSON.stringify({ styles, version, results }));
    client.close();
  });
  const w = Number(width), h = Number(height);
  call.write({ header: { style, image_width: w, image_height: h } });
  // The whole image is one tile: its core is the image, so no halo pixels are needed.
  call.write({ tile: { index: 7, x: 0, y: 0, width: w, height: h, rgb: pixels } });
  call.end();
});
