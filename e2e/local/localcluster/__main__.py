"""python -m localcluster {up,down,status,kubeconfig,env,sync-nodes,images,engine-image} (PYTHONPATH=e2e/local)."""
import argparse
import shlex
import sys

from . import cluster, images, node, node_files, nodes, settings


def main() -> int:
    parser = argparse.ArgumentParser(prog="localcluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start (idempotent) and wait until usable")
    up.add_argument("--layout", default=str(nodes.DEFAULT_LAYOUT), help="node layout YAML")
    up.add_argument("--timeout", type=float, default=180.0)
    down = sub.add_parser("down", help="stop; drop etcd data unless --keep-data")
    down.add_argument("--keep-data", action="store_true")
    sub.add_parser("status", help="components, health, nodes; exit 1 unless all up")
    sub.add_parser("kubeconfig", help="print the admin kubeconfig path")
    sub.add_parser("env", help='print the shell lines that point kubectl and helm at the cluster: eval "$(...)"')
    sync = sub.add_parser("sync-nodes", help="make the fake nodes match a layout")
    sync.add_argument("--layout", default=str(nodes.DEFAULT_LAYOUT))
    sub.add_parser("images", help="build every image the real node runs (cached by their sources' hash)")
    sub.add_parser("engine-image", help="build (first time: minutes) and import the vLLM CPU test engine image "
                                        "into the real node's containerd; print its tag")
    args = parser.parse_args()
    try:
        if args.command == "up":
            cluster.up(nodes.load_layout(args.layout), timeout=args.timeout)
        elif args.command == "down":
            cluster.down(wipe=not args.keep_data)
        elif args.command == "status":
            return cluster.status()
        elif args.command == "kubeconfig":
            print(settings.kubeconfig_path())
        elif args.command == "env":
            print(shell_env())
        elif args.command == "sync-nodes":
            print("\n".join(nodes.sync(nodes.load_layout(args.layout))))
        elif args.command == "images":
            images.build_all()
        elif args.command == "engine-image":
            print(images.ensure_engine_image(node_files.socket()))
    except (cluster.ClusterError, node.NodeError) as e:
        print(f"local-cluster: ERROR: {e}", file=sys.stderr)
        return 1
    return 0


def shell_env() -> str:
    """KUBECONFIG, and the pinned kubectl and helm first on PATH (versions.env's, not whatever is installed)."""
    tools = ":".join(shlex.quote(str(settings.binary(name).parent)) for name in ("kubectl", "helm"))
    return f"export KUBECONFIG={shlex.quote(str(settings.kubeconfig_path()))}\nexport PATH={tools}:\"$PATH\""


if __name__ == "__main__":
    sys.exit(main())
