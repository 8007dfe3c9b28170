package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// controlHandler is the control API: what an operator does to the
// processes of a Vault cluster (systemctl stop, start), not what Vault's
// own API offers (step-down, seal, unseal: the tests call Vault for those).
//
//	GET  /nodes                           every node: address, running, request and redirect counts
//	POST /stop?nodes=0,2                  stop those nodes (all when nodes is absent)
//	POST /start?nodes=0,2[&sealed=true]   start them again, unsealed unless sealed=true
//
// Stop and start answer with the nodes, as GET /nodes does.
func controlHandler(c *cluster) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /nodes", func(w http.ResponseWriter, _ *http.Request) {
		writeNodes(w, c)
	})
	mux.Handle("POST /stop", onNodes(c, func(idx []int, _ *http.Request) (int, error) {
		return http.StatusInternalServerError, c.stop(idx)
	}))
	mux.Handle("POST /start", onNodes(c, func(idx []int, r *http.Request) (int, error) {
		sealed, err := strconv.ParseBool(cmp.Or(r.URL.Query().Get("sealed"), "false"))
		if err != nil {
			return http.StatusBadRequest, fmt.Errorf("sealed=%q: want true or false", r.URL.Query().Get("sealed"))
		}
		return http.StatusInternalServerError, c.start(idx, sealed)
	}))
	return mux
}

// onNodes runs op on the nodes the request names and answers with every
// node, or with op's error and the status it goes with.
func onNodes(c *cluster, op func(idx []int, r *http.Request) (int, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idx, err := nodesParam(r, len(c.nodes))
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if status, err := op(idx, r); err != nil {
			writeError(w, status, err)
			return
		}
		writeNodes(w, c)
	})
}

// nodesParam reads ?nodes=0,2; every node when it is absent.
func nodesParam(r *http.Request, n int) ([]int, error) {
	v := r.URL.Query().Get("nodes")
	if v == "" {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	var idx []int
	for s := range strings.SplitSeq(v, ",") {
		i, err := strconv.Atoi(s)
		if err != nil || i < 0 || i >= n {
			return nil, fmt.Errorf("nodes=%q: want node numbers from 0 to %d, comma-separated", v, n-1)
		}
		idx = append(idx, i)
	}
	return idx, nil
}

func writeNodes(w http.ResponseWriter, c *cluster) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"nodes": c.states()})
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []string{err.Error()}})
}
