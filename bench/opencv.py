#!/usr/bin/env python3
"""OpenCV's time for each effect of `npm run bench`, one thread, on the same RGBA frame.

Run by bench/effects.ts --opencv (needs python3 with cv2 and numpy, e.g. Debian's
python3-opencv). Each effect is done as closely to the project's definition
(src/effects/reference.ts) as OpenCV's functions allow, same RGBA in and out, borders replicated,
output buffers allocated once:

  invert     bitwise_not (also inverts alpha, which ours keeps: the same bytes move)
  grayscale  cvtColor RGBA2GRAY then GRAY2RGBA (alpha set to 255; ours keeps it)
  blur       blur 3x3
  sharpen    filter2D with [0,-1,0; -1,5,-1; 0,-1,0]
  edge       Sobel dx and dy (16-bit), absdiff, add, convertScaleAbs, alpha copied back:
             min(255, |gx| + |gy|) per colour channel, as ours
  pixelate   resize down by the block with INTER_AREA, back up with INTER_NEAREST
  gaussian   GaussianBlur with sigma (kernel size from sigma: radius 3 sigma, as our FIR)
  copy       numpy copyto: one read and one write of the frame

Prints one JSON object: {"opencv": version, "threads": n, "results": [{name, ms_best, ms_median,
runs}]}; with --out DIR also writes each output frame as DIR/<name>.raw for the caller to compare.
"""
import argparse
import json
import os
import statistics
import time

import cv2
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--width', type=int, required=True)
    ap.add_argument('--height', type=int, required=True)
    ap.add_argument('--frame', required=True, help='raw RGBA input, width * height * 4 bytes')
    ap.add_argument('--runs', type=int, default=31)
    ap.add_argument('--sigmas', default='2,8,24')
    ap.add_argument('--block', type=int, default=16)
    ap.add_argument('--out', help='directory for the output frames')
    args = ap.parse_args()

    cv2.setNumThreads(1)
    w, h = args.width, args.height
    src = np.fromfile(args.frame, dtype=np.uint8).reshape(h, w, 4)
    dst = np.empty_like(src)
    gray = np.empty((h, w), np.uint8)
    gx = np.empty((h, w, 4), np.int16)
    gy = np.empty_like(gx)
    zero = np.zeros_like(gx)
    small = np.empty(((h + args.block - 1) // args.block, (w + args.block - 1) // args.block, 4), np.uint8)
    sharpen_k = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)
    rep = cv2.BORDER_REPLICATE

    def edge():
        cv2.Sobel(src, cv2.CV_16S, 1, 0, dst=gx, ksize=3, borderType=rep)
        cv2.Sobel(src, cv2.CV_16S, 0, 1, dst=gy, ksize=3, borderType=rep)
        cv2.absdiff(gx, zero, dst=gx)
        cv2.absdiff(gy, zero, dst=gy)
        cv2.add(gx, gy, dst=gx)
        cv2.convertScaleAbs(gx, dst=dst)
        cv2.mixChannels([src], [dst], [3, 3])

    def grayscale():
        cv2.cvtColor(src, cv2.COLOR_RGBA2GRAY, dst=gray)
        cv2.cvtColor(gray, cv2.COLOR_GRAY2RGBA, dst=dst)

    def pixelate():
        cv2.resize(src, (small.shape[1], small.shape[0]), dst=small, interpolation=cv2.INTER_AREA)
        cv2.resize(small, (w, h), dst=dst, interpolation=cv2.INTER_NEAREST)

    cases = [
        ('copy', lambda: np.copyto(dst, src)),
        ('invert', lambda: cv2.bitwise_not(src, dst=dst)),
        ('grayscale', grayscale),
        ('blur', lambda: cv2.blur(src, (3, 3), dst=dst, borderType=rep)),
        ('sharpen', lambda: cv2.filter2D(src, -1, sharpen_k, dst=dst, borderType=rep)),
        ('edge', edge),
        ('pixelate', pixelate),
    ]
    for s in [float(v) for v in args.sigmas.split(',') if v]:
        cases.append((f'gaussian:{s:g}', lambda s=s: cv2.GaussianBlur(src, (0, 0), s, dst=dst, borderType=rep)))

    results = []
    for name, run in cases:
        run()  # warm-up (and the output, if asked for)
        if args.out:
            dst.tofile(os.path.join(args.out, name.replace(':', '-') + '.raw'))
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            run()
            times.append((time.perf_counter() - t0) * 1000)
        results.append({'name': name, 'ms_best': min(times), 'ms_median': statistics.median(times), 'runs': args.runs})
    print(json.dumps({'opencv': cv2.__version__, 'threads': cv2.getNumThreads(), 'results': results}))


if __name__ == '__main__':
    main()
