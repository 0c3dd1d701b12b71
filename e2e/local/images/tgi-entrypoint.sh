#!/bin/bash
# The TGI CPU test image's entrypoint: upstream's tgi-entrypoint.sh at v3.3.7 (commit dfb3fbe7), with our
# virtualenv's path, so the operator's rendered container (no command, the launcher's flags as args)
# runs the same here as on ghcr.io/huggingface/text-generation-inference. Upstream's reads:
#   ldconfig 2>/dev/null || echo 'unable to refresh ld cache, not a big deal in most cases'
#   source /usr/src/.venv/bin/activate
#   exec text-generation-launcher $@
# ("$@" here: the same arguments, without word splitting of values that hold spaces.)

ldconfig 2>/dev/null || echo 'unable to refresh ld cache, not a big deal in most cases'

source /opt/tgi/bin/activate
exec text-generation-launcher "$@"
