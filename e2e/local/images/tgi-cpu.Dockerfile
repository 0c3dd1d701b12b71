# The TGI CPU test image: text-generation-inference 3.3.7 built for the CPU by e2e/engine/tgi/build.sh
# (the launcher, the v3 router and the server's virtualenv, from the upstream tarball and our patches),
# installed from that build's outputs: a context holding `site-packages/` (the build's virtualenv's, made
# with Debian bookworm's Python 3.11, the Python of this image), `wheelhouse/` (the server's own wheel,
# installed again for its console script), `bin/` (the two Rust binaries) and tgi-entrypoint.sh. No
# network inside the build. Built by localcluster/images.py.
#
# It behaves as upstream's image does for the pod the operator renders (upstream Dockerfile at v3.3.7,
# final stage): no command, ENTRYPOINT /tgi-entrypoint.sh, which runs text-generation-launcher with the
# container's args; HF_HOME=/data, PORT=80 and HF_HUB_ENABLE_HF_TRANSFER=1 as upstream's `base` stage
# sets them (the rendered pod sets HF_HOME and --port itself); WORKDIR /usr/src; runs as root.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN --mount=type=bind,source=site-packages,target=/build/site-packages \
    --mount=type=bind,source=wheelhouse,target=/build/wheelhouse \
    python3 -m venv /opt/tgi \
    && cp -a /build/site-packages/. /opt/tgi/lib/python3.11/site-packages/ \
    && /opt/tgi/bin/pip install --no-cache-dir --no-index --no-deps --force-reinstall \
       /build/wheelhouse/text_generation_server-*.whl
# In the virtualenv's bin/, as on the build host: the binaries embed Python (pyo3) and find it there.
COPY bin/text-generation-launcher bin/text-generation-router /opt/tgi/bin/
COPY tgi-entrypoint.sh /tgi-entrypoint.sh
ENV HF_HOME=/data \
    HF_HUB_ENABLE_HF_TRANSFER=1 \
    PORT=80 \
    HOME=/root \
    # The real node's 2 cores are shared by several replicas: one compute thread each (the engine tier's
    # setting too, tests/support/tgi_server.py).
    OMP_NUM_THREADS=1
# Upstream's working directory: the router saves the tokenizer it resolved to ./out (router/src/server.rs
# py_resolve_tokenizer) and loads out/tokenizer.json from there.
WORKDIR /usr/src
ENTRYPOINT ["/tgi-entrypoint.sh"]
