# The image deploy/k8s/ runs: load-gen, which contains push-server (`load-gen push-server`), and
# the scenarios under /scenarios. Build it from the repository root:
#
#   docker build -t pushbench:dev .
#
# The toolchain is the one this repository is built and tested with.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p load-gen

FROM debian:bookworm-slim
# No fonts or shared libraries beyond libc are needed: the charts embed their font.
COPY --from=build /src/target/release/load-gen /usr/local/bin/load-gen
COPY scenarios /scenarios
USER 65532:65532
ENTRYPOINT ["load-gen"]
CMD ["--help"]
