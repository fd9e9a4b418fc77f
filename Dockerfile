# syntax=docker/dockerfile:1
# The vitals agent as a container image: built in a Rust image (the `dist` profile, see
# docs/DEPLOY.md), run from a distroless base as a non-root user. The binary links only
# glibc, libm and libgcc_s (`ldd`), which the `cc` distroless image provides.
#
#   docker build --build-arg VITALS_COMMIT=$(git rev-parse --short=12 HEAD) -t vitals:0.1.0 .
#   docker run --rm vitals:0.1.0 --version

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The build context has no .git (see .dockerignore): name the commit for `--version`.
ARG VITALS_COMMIT=unknown
ENV VITALS_COMMIT=${VITALS_COMMIT}
COPY . .
# scripts/build-dist.sh: the `dist` profile linked with the functions run at rest placed
# together (deploy/hot-symbols.txt; needs bash and nm, both in the Rust image).
RUN scripts/build-dist.sh --locked \
 && strip target/dist/vitals \
 && ./target/dist/vitals --version

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/dist/vitals /usr/local/bin/vitals
# uid/gid 65532 ("nonroot"); the agent needs no capability and writes no file.
USER 65532:65532
EXPOSE 7946/udp 7947/tcp
ENTRYPOINT ["/usr/local/bin/vitals"]
CMD ["--help"]
