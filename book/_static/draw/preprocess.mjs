// Turn a drawing into the 28 x 28 image the model reads, the way MNIST was made.
//
// LeCun, Bottou, Bengio and Haffner (1998) describe MNIST's images: each digit from NIST
// was size-normalized to fit a 20 x 20 pixel box while preserving its aspect ratio (the
// anti-aliasing of that scaling is where the grey levels come from), then centred in a
// 28 x 28 image by its centre of mass. The book's data pipeline then maps pixels to
// [0, 1] (x / 255). The four steps below do the same to the ink on the canvas.

export const SIZE = 28; // the image the model receives: 28 rows of 28 pixels
export const BOX = 20; // the box the digit is scaled to fit

// ink: Float32Array or Uint8ClampedArray of width * height ink amounts (0 = paper), e.g. the
// alpha channel of the canvas. Returns a Float32Array of 28 * 28 grey levels in [0, 1], row
// by row, or null when there is no ink.
export function preprocess(ink, width, height, maxInk = 255) {
  // 1. The bounding box of the ink.
  let left = width, right = -1, top = height, bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > 0) {
        if (x < left) left = x;
        if (x > right) right = x;
        if (y < top) top = y;
        if (y > bottom) bottom = y;
      }
    }
  }
  if (right < 0) return null;
  const boxWidth = right - left + 1;
  const boxHeight = bottom - top + 1;

  // 2. Scale it so its longer side is 20 pixels, keeping the aspect ratio. Each canvas pixel
  //    is a square of side `scale` in the small image; it adds its ink to every small pixel
  //    it overlaps, in proportion to the overlap (area averaging: the anti-aliased grey levels).
  const scale = BOX / Math.max(boxWidth, boxHeight);
  const smallWidth = Math.ceil(boxWidth * scale - 1e-9);
  const smallHeight = Math.ceil(boxHeight * scale - 1e-9);
  const small = new Float32Array(smallWidth * smallHeight);
  for (let y = top; y <= bottom; y++) {
    const y0 = (y - top) * scale, y1 = y0 + scale;
    for (let x = left; x <= right; x++) {
      const amount = ink[y * width + x] / maxInk;
      if (amount <= 0) continue;
      const x0 = (x - left) * scale, x1 = x0 + scale;
      for (let sy = Math.floor(y0); sy < Math.min(Math.ceil(y1), smallHeight); sy++) {
        const overlapY = Math.min(y1, sy + 1) - Math.max(y0, sy);
        for (let sx = Math.floor(x0); sx < Math.min(Math.ceil(x1), smallWidth); sx++) {
          const overlapX = Math.min(x1, sx + 1) - Math.max(x0, sx);
          small[sy * smallWidth + sx] += amount * overlapX * overlapY;
        }
      }
    }
  }

  // 3. Its centre of mass (pixel indices weighted by grey level).
  let mass = 0, sumX = 0, sumY = 0;
  for (let y = 0; y < smallHeight; y++) {
    for (let x = 0; x < smallWidth; x++) {
      const value = small[y * smallWidth + x];
      mass += value;
      sumX += value * x;
      sumY += value * y;
    }
  }

  // 4. Place it in 28 x 28, shifted by whole pixels so the centre of mass falls on the
  //    centre (index 13.5, between the two middle pixels); ink shifted off the edge is lost,
  //    as in MNIST. Grey levels are clipped to [0, 1].
  const centre = (SIZE - 1) / 2;
  const shiftX = Math.round(centre - sumX / mass);
  const shiftY = Math.round(centre - sumY / mass);
  const image = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < smallHeight; y++) {
    const ty = y + shiftY;
    if (ty < 0 || ty >= SIZE) continue;
    for (let x = 0; x < smallWidth; x++) {
      const tx = x + shiftX;
      if (tx < 0 || tx >= SIZE) continue;
      image[ty * SIZE + tx] = Math.min(1, Math.max(0, small[y * smallWidth + x]));
    }
  }
  return image;
}

// The ink of a canvas: its alpha channel (strokes are drawn on a transparent canvas).
export function inkOf(canvas) {
  const { width, height } = canvas;
  const rgba = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  const ink = new Uint8ClampedArray(width * height);
  for (let i = 0; i < ink.length; i++) ink[i] = rgba[4 * i + 3];
  return { ink, width, height };
}
