package main

import (
	"math"
	"sort"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam, 2018): a prompt prefix goes to
// the replica after its hash on a ring, so requests that share a system prompt or a conversation meet the
// same engine's prefix cache; but no replica takes more than ceil(c x average) requests in flight, so a
// popular prefix spills over to the next replicas on the ring instead of queueing on one.

// virtualNodes per replica: enough that each owns a near-equal share of the ring (about 1/sqrt(n) spread).
const virtualNodes = 128

type ringPoint struct {
	hash uint64
	ep   *endpoint
}

type hashRing struct {
	points []ringPoint
}

func newHashRing(eps []*endpoint) *hashRing {
	r := &hashRing{points: make([]ringPoint, 0, len(eps)*virtualNodes)}
	for _, ep := range eps {
		for v := 0; v < virtualNodes; v++ {
			r.points = append(r.points, ringPoint{xxhash.Sum64String(ep.addr + "#" + strconv.Itoa(v)), ep})
		}
	}
	sort.Slice(r.points, func(i, j int) bool { return r.points[i].hash < r.points[j].hash })
	return r
}

// boundedLoad is the most requests in flight a replica may have to take one more: ceil(c x (total+1) / n).
// At least one replica is always under it (the least loaded has at most the average).
func boundedLoad(total, replicas int, c float64) int {
	return int(math.Ceil(c * float64(total+1) / float64(replicas)))
}

// pick walks the ring clockwise from the key's hash to the first replica under the bound.
func (r *hashRing) pick(key string, bound int) *endpoint {
	h := xxhash.Sum64String(key)
	start := sort.Search(len(r.points), func(i int) bool { return r.points[i].hash >= h })
	for i := 0; i < len(r.points); i++ {
		ep := r.points[(start+i)%len(r.points)].ep
		if ep.inFlight+1 <= bound {
			return ep
		}
	}
	return r.points[start%len(r.points)].ep // unreachable while the bound holds; the owner, then
}
