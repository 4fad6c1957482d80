// The "Draw a digit" page: the reader draws, preprocess.mjs makes the 28 x 28 image, and
// the book's LSTM (exported to ONNX by chapter 9) reads it row by row in ONNX Runtime Web.
// Every file comes from this site: the runtime and its WebAssembly from _static/vendor/,
// the model from _static/models/. Paths are relative to this module, so the page works
// wherever the site is served (e.g. under /rnn-mnist/).

import { SIZE, inkOf, preprocess } from "./preprocess.mjs";

const here = (path) => new URL(path, import.meta.url).href;
const RUNTIME = here("../vendor/onnxruntime-web/ort.wasm.bundle.min.mjs"); // the loader is bundled in
const RUNTIME_WASM = here("../vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm");
const MODEL = here("../models/row_reader.onnx");
const MODEL_INFO = here("../models/row_reader.json");
const STROKE = 22; // pen width on the 280 x 280 drawing canvas: about 2 pixels after scaling to 20 x 20
const SWEEP_MS = 45; // per row, when the cursor sweeps down after a stroke

const $ = (id) => document.getElementById(id);

// --- the model --------------------------------------------------------------------------

let model = null; // {ort, session, info}, once loaded
let loading = null; // the one promise of it, shared by every caller

function loadModel() {
  loading ??= startModel();
  return loading;
}

async function startModel() {
  const ort = await import(RUNTIME);
  ort.env.wasm.numThreads = 1; // no worker threads: works without cross-origin isolation headers
  ort.env.wasm.wasmPaths = { wasm: RUNTIME_WASM }; // the site's own copy, never a CDN
  const response = await fetch(MODEL_INFO);
  if (!response.ok) throw new Error(`${MODEL_INFO}: HTTP ${response.status}`);
  const info = await response.json();
  const session = await ort.InferenceSession.create(MODEL, { executionProviders: ["wasm"] });
  model = { ort, session, info };
  return model;
}

// images: an array of 784 grey levels each (row by row, in [0, 1]). Returns, for each image,
// the 28 rows' probabilities: result[i][k - 1][c] = P(class c | the first k rows of image i).
async function probabilitiesFor(images) {
  const { ort, session, info } = await loadModel();
  const rows = info.rows, width = info.pixels_per_row, classes = info.classes.length;
  const batch = new Float32Array(images.length * rows * width);
  images.forEach((image, i) => {
    if (image.length !== rows * width) throw new Error(`image ${i} has ${image.length} values, not ${rows * width}`);
    batch.set(image, i * rows * width);
  });
  const input = new ort.Tensor("float32", batch, [images.length, rows, width]);
  const output = (await session.run({ [info.input_name]: input }))[info.output_name];
  const values = output.data;
  return images.map((_, i) =>
    Array.from({ length: rows }, (_, k) => {
      const start = (i * rows + k) * classes;
      return Array.from(values.subarray(start, start + classes));
    }),
  );
}

// --- drawing ------------------------------------------------------------------------------

const canvas = $("draw-canvas");
const pen = canvas.getContext("2d", { willReadFrequently: true });
let strokes = 0;
let last = null; // the last point of the stroke being drawn
let drawing = false;

function point(event) {
  const box = canvas.getBoundingClientRect();
  return [((event.clientX - box.left) / box.width) * canvas.width, ((event.clientY - box.top) / box.height) * canvas.height];
}

function segment(from, to) {
  pen.lineCap = "round";
  pen.lineJoin = "round";
  pen.lineWidth = STROKE;
  pen.strokeStyle = "#000";
  pen.beginPath();
  pen.moveTo(...from);
  pen.lineTo(...to);
  pen.stroke();
}

canvas.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  drawing = true;
  last = point(event);
  segment(last, last);
});
canvas.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  event.preventDefault();
  const next = point(event);
  segment(last, next);
  last = next;
});
function endStroke(event) {
  if (!drawing) return;
  drawing = false;
  strokes += 1;
  if (canvas.hasPointerCapture(event.pointerId)) canvas.releasePointerCapture(event.pointerId);
  read();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

// --- what the model sees and says -----------------------------------------------------------

const seen = $("draw-seen");
const seenPen = seen.getContext("2d");
const slider = $("draw-rows");
let current = null; // {image, probabilities} of the last drawing
let sweep = null;
let reading = 0; // increases with every read, so a slow answer for an older drawing is dropped

function showImage(image, row) {
  const pixels = seenPen.createImageData(SIZE, SIZE);
  for (let i = 0; i < SIZE * SIZE; i++) {
    const ink = image ? image[i] : 0;
    const rowRead = image && Math.floor(i / SIZE) < row;
    const level = Math.round(255 * (1 - ink));
    // Rows already read are shown in full; rows still to come are faded.
    pixels.data.set(rowRead ? [level, level, level, 255] : [level, level, level, image ? 90 : 255], 4 * i);
  }
  seenPen.putImageData(pixels, 0, 0);
  const marker = $("draw-row-marker");
  marker.hidden = !image;
  marker.style.top = `${(100 * (row - 1)) / SIZE}%`;
}

function showRow(row) {
  if (!current) return;
  slider.value = String(row);
  const probabilities = current.probabilities[row - 1];
  const best = probabilities.indexOf(Math.max(...probabilities));
  probabilities.forEach((p, digit) => {
    const bar = $(`draw-bar-${digit}`);
    bar.style.width = `${(100 * p).toFixed(1)}%`;
    bar.parentElement.parentElement.classList.toggle("draw-best", digit === best);
    $(`draw-p-${digit}`).textContent = `${(100 * p).toFixed(1)}%`;
  });
  $("draw-row-label").textContent = String(row);
  $("draw-answer").textContent =
    `After reading row ${row} of ${SIZE}, the model says ${model.info.classes[best]} ` +
    `(${(100 * probabilities[best]).toFixed(1)}%).`;
  document.querySelectorAll("#draw-timeline button").forEach((cell, index) => {
    cell.classList.toggle("draw-current", index === row - 1);
  });
  showImage(current.image, row);
}

function showTimeline() {
  const timeline = $("draw-timeline");
  timeline.replaceChildren(
    ...current.probabilities.map((probabilities, index) => {
      const best = probabilities.indexOf(Math.max(...probabilities));
      const cell = document.createElement("button");
      cell.type = "button";
      cell.textContent = model.info.classes[best];
      cell.title = `row ${index + 1}: ${model.info.classes[best]} (${(100 * probabilities[best]).toFixed(0)}%)`;
      cell.style.setProperty("--confidence", probabilities[best].toFixed(3));
      cell.addEventListener("click", () => {
        stopSweep();
        showRow(index + 1);
      });
      return cell;
    }),
  );
}

function stopSweep() {
  if (sweep !== null) clearInterval(sweep);
  sweep = null;
}

function startSweep() {
  stopSweep();
  let row = 1;
  showRow(row);
  sweep = setInterval(() => {
    row += 1;
    showRow(row);
    if (row >= SIZE) stopSweep();
  }, SWEEP_MS);
}

function setStatus(text) {
  $("draw-status").textContent = text;
}

async function read() {
  const ticket = ++reading;
  const { ink, width, height } = inkOf(canvas);
  const image = preprocess(ink, width, height);
  if (!image) return;
  try {
    const [probabilities] = await probabilitiesFor([image]);
    if (ticket !== reading) return; // cleared or redrawn meanwhile
    current = { image, probabilities };
    $("draw-results").hidden = false;
    showTimeline();
    startSweep();
    setStatus("");
  } catch (error) {
    setStatus(`The model could not run: ${error.message}`);
  }
}

function clear() {
  reading += 1;
  stopSweep();
  strokes = 0;
  current = null;
  pen.clearRect(0, 0, canvas.width, canvas.height);
  $("draw-timeline").replaceChildren();
  $("draw-answer").textContent = "";
  $("draw-results").hidden = true;
  showImage(null, 0);
}

$("draw-clear").addEventListener("click", clear);
slider.addEventListener("input", () => {
  stopSweep();
  showRow(Number(slider.value));
});

// --- start ------------------------------------------------------------------------------------

// For the book's browser tests and the curious: the same functions the page uses.
window.rnnMnist = {
  preprocess,
  probabilitiesFor,
  // The page's current drawing: the 28 x 28 image and the 28 rows of probabilities, or null.
  current: () => current && { image: Array.from(current.image), probabilities: current.probabilities },
  strokes: () => strokes,
};

clear();
setStatus("Loading the model…");
loadModel().then(
  ({ info }) => {
    $("draw-accuracy").textContent = `${(100 * info.test_accuracy).toFixed(1)}%`;
    $("draw-model-info").hidden = false;
    setStatus("");
    document.documentElement.dataset.rnnMnistModel = "ready";
  },
  (error) => {
    setStatus(`The model could not be loaded: ${error.message}`);
    document.documentElement.dataset.rnnMnistModel = "failed";
  },
);
