// Calls ListStyles and StylizeTiles on a Tessera server with a client built from proto/ by
// @grpc/proto-loader, cutting the image into a grid of tiles with the halo the server asks for.
// Usage: node node_client.mjs HOST:PORT STYLE WIDTH HEIGHT TILE [STYLE_IMAGE [keep-colors]] [scale=S] < rgb-bytes
// With STYLE_IMAGE (a PNG, JPEG or WebP file) the style's look is that painting; an image no larger than
// the style's thumbnail size is sent whole as the thumbnail, as the style's statistics need it.
// With scale=S the header asks for brush scale S (StreamHeader.scale): the tiles and results stay at
// full resolution, cut with the (larger) halo the server answers.
// Prints JSON: the style ids, the accepted version, halo and scale, and each tile result (pixels in base64).
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

const args = process.argv.slice(2);
const scaleArg = args.find((a) => a.startsWith("scale="));
const [address, style, ...rest] = args.filter((a) => a !== scaleArg);
const [width, height, tile] = rest.slice(0, 3).map(Number);
const [styleImagePath, keepColors] = rest.slice(3);
const pixels = readFileSync(0);
const client = new tessera.StyleTransfer(address, grpc.credentials.createInsecure());
const deadline = () => new Date(Date.now() + 20000);

/** RGB8 bytes of the rectangle [x0, x1) x [y0, y1) of the image. */
function crop(x0, y0, x1, y1) {
  const rows = [];
  for (let y = y0; y < y1; y++) rows.push(pixels.subarray((y * width + x0) * 3, (y * width + x1) * 3));
  return Buffer.concat(rows);
}

/** Send every core of a tile x tile grid, grown by the halo and clipped to the image. */
function sendTiles(call, halo) {
  let index = 0;
  for (let y = 0; y < height; y += tile) {
    for (let x = 0; x < width; x += tile) {
      const w = Math.min(tile, width - x), h = Math.min(tile, height - y);
      const x0 = Math.max(0, x - halo), y0 = Math.max(0, y - halo);
      const x1 = Math.min(width, x + w + halo), y1 = Math.min(height, y + h + halo);
      call.write({ tile: { index: index++, x, y, width: w, height: h, rgb: crop(x0, y0, x1, y1) } });
    }
  }
  call.end();
}

client.ListStyles({}, { deadline: deadline() }, (error, reply) => {
  if (error) throw error;
  const styles = reply.styles.map((s) => s.id);
  const results = [];
  let version = 0, halo = 0, scale = 0;
  const call = client.StylizeTiles({ deadline: deadline() });
  call.on("data", (message) => {
    if (message.message === "accepted") {
      ({ version, scale } = message.accepted);
      halo = message.accepted.tiling.halo;
      sendTiles(call, halo);
    } else {
      results.push({ ...message.tile, rgb: Buffer.from(message.tile.rgb).toString("base64") });
    }
  });
  call.on("error", (e) => { console.error(e.message); process.exit(1); });
  call.on("end", () => {
    console.log(JSON.stringify({ styles, version, halo, scale, results }));
    client.close();
  });
  const header = { style, image_width: width, image_height: height, keep_colors: keepColors === "keep-colors" };
  const info = reply.styles.find((s) => s.id === style);
  if (info && info.tiling.needs_thumbnail) {
    if (Math.max(width, height) > info.tiling.thumbnail_size) throw new Error("image larger than the thumbnail size");
    header.thumbnail = { width, height, rgb: pixels };
  }
  if (styleImagePath) header.style_sources = [{ image: readFileSync(styleImagePath), weight: 1 }];
  if (scaleArg) header.scale = Number(scaleArg.slice("scale=".length));
  call.write({ header });
});
