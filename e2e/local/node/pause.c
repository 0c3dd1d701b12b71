/* The pods' sandbox process on the local cluster's real node, and the idle
 * container of the pre-pull DaemonSet: it sleeps until it is told to stop and
 * reaps whatever child it is handed (it is PID 1 of the pod's namespaces).
 * Built statically into the image tagged registry.k8s.io/pause:3.10
 * (localcluster/images.py), because no registry is reachable here. */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction quit = {.sa_handler = stop}, child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
    sigaction(SIGINT, &quit, NULL);
    sigaction(SIGTERM, &quit, NULL);
    sigaction(SIGCHLD, &child, NULL);
    for (;;) pause();
}
