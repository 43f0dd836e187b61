# CPU image: Node 22 on Debian slim, non-root, only production dependencies at run time.
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-wasm.mjs scripts/build-native.mjs scripts/
COPY assembly assembly
# The native CPU kernels (build/kernels-native.so, x86-64 only; on arm64 the WASM kernels serve alone).
RUN apt-get update && apt-get install -y --no-install-recommends g++ && rm -rf /var/lib/apt/lists/*
COPY native native
COPY src src
COPY tools tools
RUN npm run build && npm prune --omit=dev

FROM node:22-slim
# Two malloc arenas: libwebrtc's many threads otherwise grow one arena each and RSS creeps with
# session churn (docs/benchmarks.md, Soak).
ENV MALLOC_ARENA_MAX=2
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/build build
# Captions and translation (docs/audio.md): PocketSphinx with its US-English model, Apertium with
# the English-Spanish and English-Catalan pairs, and the font subtitles=burn draws with. Without
# them the service runs and reports captions unavailable.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpocketsphinx3 pocketsphinx-en-us apertium apertium-eng-spa apertium-eng-cat fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY public public
# The person-segmentation model of the background effects (docs/segmentation.md).
COPY models models
USER 10001:10001
EXPOSE 8080
CMD ["node", "dist/src/server.js"]
