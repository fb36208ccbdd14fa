// Grafana's side of a backend plugin, built from the libraries Grafana itself uses:
// HashiCorp's go-plugin client over grpc-go, configured as Grafana's
// pkg/plugins/backendplugin/grpcplugin configures it (versioned plugin set 2, magic cookie
// grafana_plugin_type=datasource, gRPC only, unmanaged). Methods are called on the
// connection with a raw-bytes codec, so no generated pluginv2 code is needed.
//
//	go-plugin-client check EXECUTABLE      handshake, Ping, CheckHealth, GET ping, Kill; one JSON line
//	go-plugin-client latency EXECUTABLE N  N sequential CheckHealth and N GET ping; one JSON line
//	go-plugin-client script EXECUTABLE     one call per JSON line on stdin, one answer per line
//	                                       on stdout (see scriptCall); Kill at end of input
//
// Built in GOPATH mode from Debian's packages (bench/go-plugin.sh shows how).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// rawCodec passes protobuf bytes through unchanged.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// grafanaPlugin is the plugin set entry; Grafana's client only needs the connection.
type grafanaPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (grafanaPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (grafanaPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return conn, nil
}

// Minimal protobuf writing for the two requests.
func varint(v uint64) []byte {
	var out []byte
	for v >= 0x80 {
		out = append(out, byte(v)|0x80)
		v >>= 7
	}
	return append(out, byte(v))
}
func field(number int, payload []byte) []byte { // length-delimited
	out := varint(uint64(number<<3 | 2))
	return append(append(out, varint(uint64(len(payload)))...), payload...)
}
func intField(number int, v uint64) []byte { return append(varint(uint64(number<<3)), varint(v)...) }

func pluginContext(role string) []byte {
	user := append(field(1, []byte("bench")), field(4, []byte(role))...)
	settings := append(field(3, []byte("{}")), intField(5, 1)...)
	ctx := intField(1, 1)
	ctx = append(ctx, field(2, []byte(os.Getenv("PLUGIN_ID")))...)
	ctx = append(ctx, field(3, user)...)
	return append(ctx, field(4, settings)...)
}

func checkHealthRequest() []byte { return field(1, pluginContext("Admin")) }
func pingRequest() []byte {
	req := field(1, pluginContext("Viewer"))
	req = append(req, field(2, []byte("ping"))...)
	req = append(req, field(3, []byte("GET"))...)
	return append(req, field(4, []byte("ping"))...)
}

// firstVarint reads field 1 (a varint) of a message: the health status, the HTTP code.
func firstVarint(msg []byte) uint64 {
	if len(msg) < 2 || msg[0] != 0x08 {
		return 0
	}
	var v uint64
	for i, shift := 1, uint(0); i < len(msg); i, shift = i+1, shift+7 {
		v |= uint64(msg[i]&0x7f) << shift
		if msg[i] < 0x80 {
			break
		}
	}
	return v
}

func call(conn *grpc.ClientConn, method string, request []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var response []byte
	if method == "/pluginv2.Resource/CallResource" {
		desc := &grpc.StreamDesc{ServerStreams: true}
		stream, err := conn.NewStream(ctx, desc, method, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			return nil, err
		}
		if err := stream.SendMsg(&request); err != nil {
			return nil, err
		}
		if err := stream.CloseSend(); err != nil {
			return nil, err
		}
		if err := stream.RecvMsg(&response); err != nil {
			return nil, err
		}
		var rest []byte
		for stream.RecvMsg(&rest) == nil {
		}
		return response, nil
	}
	err := conn.Invoke(ctx, method, &request, &response, grpc.ForceCodec(rawCodec{}))
	return response, err
}

func start(executable string) (*plugin.Client, *plugin.GRPCClient) {
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  2,
			MagicCookieKey:   "grafana_plugin_type",
			MagicCookieValue: "datasource",
		},
		VersionedPlugins: map[int]plugin.PluginSet{2: {"backend": grafanaPlugin{}}},
		Cmd:              exec.Command(executable),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Managed:          false,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: os.Stderr, Level: hclog.Warn}),
	})
	rpc, err := client.Client()
	if err != nil {
		fail(client, "handshake: %v", err)
	}
	return client, rpc.(*plugin.GRPCClient)
}

func fail(client *plugin.Client, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-plugin-client: "+format+"\n", args...)
	if client != nil {
		client.Kill()
	}
	os.Exit(1)
}

func emit(v interface{}) {
	out, _ := json.Marshal(v)
	fmt.Println(string(out))
}

func check(executable string) {
	client, rpc := start(executable)
	result := map[string]interface{}{"protocol": client.NegotiatedVersion()}
	if err := rpc.Ping(); err != nil {
		result["ping"] = err.Error()
	} else {
		result["ping"] = "ok"
	}
	health, err := call(rpc.Conn, "/pluginv2.Diagnostics/CheckHealth", checkHealthRequest())
	if err != nil {
		fail(client, "CheckHealth: %v", err)
	}
	result["healthStatus"] = firstVarint(health)
	ping, err := call(rpc.Conn, "/pluginv2.Resource/CallResource", pingRequest())
	if err != nil {
		fail(client, "CallResource: %v", err)
	}
	result["pingCode"] = firstVarint(ping)
	// Kill: GRPCController/Shutdown, then up to 2 s for the process to exit, then SIGKILL.
	started := time.Now()
	client.Kill()
	result["killMillis"] = time.Since(started).Milliseconds()
	result["exited"] = client.Exited()
	emit(result)
}

func percentiles(samples []time.Duration) map[string]float64 {
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	at := func(p float64) float64 {
		index := int(p*float64(len(samples)-1) + 0.5)
		return float64(samples[index].Nanoseconds()) / 1e6
	}
	over := 0
	for _, s := range samples {
		if s > 30*time.Millisecond {
			over++
		}
	}
	return map[string]float64{"p50": at(0.50), "p99": at(0.99), "max": at(1), "over30ms": float64(over)}
}

func latency(executable string, n int) {
	client, rpc := start(executable)
	defer client.Kill()
	result := map[string]interface{}{}
	for _, method := range []struct {
		name, path string
		request    []byte
	}{
		{"CheckHealth", "/pluginv2.Diagnostics/CheckHealth", checkHealthRequest()},
		{"CallResource GET ping", "/pluginv2.Resource/CallResource", pingRequest()},
	} {
		// The first call on a connection pays for HTTP/2 windows and warm-up.
		if _, err := call(rpc.Conn, method.path, method.request); err != nil {
			fail(client, "%s: %v", method.name, err)
		}
		samples := make([]time.Duration, 0, n)
		for i := 0; i < n; i++ {
			started := time.Now()
			if _, err := call(rpc.Conn, method.path, method.request); err != nil {
				fail(client, "%s: %v", method.name, err)
			}
			samples = append(samples, time.Since(started))
		}
		result[method.name] = percentiles(samples)
	}
	emit(result)
}

// scriptCall is one line of the script mode: a call as Grafana makes it for a user of an org
// whose app settings are JSONData/Secure/Updated. Call is "health", "resource", "metrics" or
// "pid" (the plugin process's id, as go-plugin's client knows it).
type scriptCall struct {
	Call       string              `json:"call"`
	DataSource *scriptDataSource   `json:"datasource"`
	Queries    []scriptQuery       `json:"queries"`
	Seconds    float64             `json:"seconds"`
	Slow       *scriptCall         `json:"slow"`
	Org        uint64              `json:"org"`
	Role       string              `json:"role"`
	JSONData   string              `json:"jsonData"`
	Secure     map[string]string   `json:"secure"`
	Updated    uint64              `json:"updated"`
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	Headers    map[string][]string `json:"headers"`
	Body       string              `json:"body"`
}

// scriptDataSource makes the call a data source's: its settings are JSONData/Secure/Updated.
type scriptDataSource struct {
	ID   uint64 `json:"id"`
	UID  string `json:"uid"`
	Name string `json:"name"`
	URL  string `json:"url"`
}

// scriptQuery is one query of a "query" call (pluginv2.DataQuery).
type scriptQuery struct {
	RefID         string `json:"refId"`
	MaxDataPoints uint64 `json:"maxDataPoints"`
	IntervalMS    uint64 `json:"intervalMs"`
	From          uint64 `json:"from"`
	To            uint64 `json:"to"`
	JSON          string `json:"json"`
	QueryType     string `json:"queryType"`
}

func (c scriptCall) pluginContext() []byte {
	ctx := intField(1, c.Org)
	ctx = append(ctx, field(2, []byte(os.Getenv("PLUGIN_ID")))...)
	if c.Role != "" {
		user := append(field(1, []byte("user-"+c.Role)), field(4, []byte(c.Role))...)
		ctx = append(ctx, field(3, user)...)
	}
	keys := make([]string, 0, len(c.Secure))
	for key := range c.Secure {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	secure := func(number int) []byte {
		var out []byte
		for _, key := range keys {
			entry := append(field(1, []byte(key)), field(2, []byte(c.Secure[key]))...)
			out = append(out, field(number, entry)...)
		}
		return out
	}
	if ds := c.DataSource; ds != nil {
		settings := intField(1, ds.ID)
		settings = append(settings, field(2, []byte(ds.Name))...)
		settings = append(settings, field(3, []byte(ds.URL))...)
		settings = append(settings, field(8, []byte(c.JSONData))...)
		settings = append(settings, secure(9)...)
		settings = append(settings, intField(10, c.Updated)...)
		settings = append(settings, field(11, []byte(ds.UID))...)
		return append(ctx, field(5, settings)...)
	}
	settings := append(field(3, []byte(c.JSONData)), intField(5, c.Updated)...)
	settings = append(settings, secure(4)...)
	return append(ctx, field(4, settings)...)
}

func (c scriptCall) queryRequest() []byte {
	req := field(1, c.pluginContext())
	for _, q := range c.Queries {
		query := field(1, []byte(q.RefID))
		query = append(query, intField(2, q.MaxDataPoints)...)
		query = append(query, intField(3, q.IntervalMS)...)
		query = append(query, field(4, append(intField(1, q.From), intField(2, q.To)...))...)
		query = append(query, field(5, []byte(q.JSON))...)
		query = append(query, field(6, []byte(q.QueryType))...)
		req = append(req, field(3, query)...)
	}
	return req
}

func (c scriptCall) resourceRequest() []byte {
	req := field(1, c.pluginContext())
	path := c.Path
	if i := indexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	req = append(req, field(2, []byte(path))...)
	req = append(req, field(3, []byte(c.Method))...)
	req = append(req, field(4, []byte(c.Path))...)
	for name, values := range c.Headers {
		var list []byte
		for _, value := range values {
			list = append(list, field(1, []byte(value))...)
		}
		entry := append(field(1, []byte(name)), field(2, list)...)
		req = append(req, field(5, entry)...)
	}
	return append(req, field(6, []byte(c.Body))...)
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

// fields reads a protobuf message: varints and length-delimited fields by number.
func fields(msg []byte) (map[int]uint64, map[int][][]byte) {
	ints, bytes := map[int]uint64{}, map[int][][]byte{}
	readVarint := func() uint64 {
		var v uint64
		for shift := uint(0); len(msg) > 0; shift += 7 {
			b := msg[0]
			msg = msg[1:]
			v |= uint64(b&0x7f) << shift
			if b < 0x80 {
				break
			}
		}
		return v
	}
	for len(msg) > 0 {
		key := readVarint()
		number, wire := int(key>>3), key&7
		switch wire {
		case 0:
			ints[number] = readVarint()
		case 2:
			n := int(readVarint())
			if n > len(msg) {
				return ints, bytes
			}
			bytes[number] = append(bytes[number], msg[:n])
			msg = msg[n:]
		default:
			return ints, bytes
		}
	}
	return ints, bytes
}

func first(list [][]byte) string {
	if len(list) == 0 {
		return ""
	}
	return string(list[0])
}

// load calls CheckHealth and the resource call c describes (GET ping by default) one after
// the other for c.Seconds, counting the calls and the failures, while the one slow call
// (c.Slow, a resource call) runs beside them from the start.
func load(conn *grpc.ClientConn, c scriptCall) map[string]interface{} {
	result := map[string]interface{}{}
	slowDone := make(chan struct{})
	if c.Slow != nil {
		go func() {
			defer close(slowDone)
			started := time.Now()
			response, err := call(conn, "/pluginv2.Resource/CallResource", c.Slow.resourceRequest())
			result["slowMillis"] = time.Since(started).Milliseconds()
			if err != nil {
				result["slowError"] = err.Error()
				return
			}
			ints, _ := fields(response)
			result["slowCode"] = ints[1]
		}()
	} else {
		close(slowDone)
	}
	if c.Method == "" {
		c.Method, c.Path = "GET", "ping"
	}
	health, resource := field(1, c.pluginContext()), c.resourceRequest()
	calls, failures, firstError := 0, 0, ""
	deadline := time.Now().Add(time.Duration(c.Seconds * float64(time.Second)))
	for time.Now().Before(deadline) {
		for _, m := range []struct {
			method  string
			request []byte
		}{{"/pluginv2.Diagnostics/CheckHealth", health}, {"/pluginv2.Resource/CallResource", resource}} {
			calls++
			response, err := call(conn, m.method, m.request)
			if err == nil && m.method == "/pluginv2.Resource/CallResource" {
				if ints, _ := fields(response); ints[1] != 200 {
					err = fmt.Errorf("CallResource answered %d", ints[1])
				}
			}
			if err != nil {
				failures++
				if firstError == "" {
					firstError = err.Error()
				}
			}
		}
	}
	<-slowDone
	result["calls"], result["errors"], result["firstError"] = calls, failures, firstError
	return result
}

func script(executable string) {
	client, rpc := start(executable)
	defer client.Kill()
	input := bufio.NewScanner(os.Stdin)
	input.Buffer(make([]byte, 1<<20), 1<<24)
	for input.Scan() {
		var c scriptCall
		if err := json.Unmarshal(input.Bytes(), &c); err != nil {
			fail(client, "script line %q: %v", input.Text(), err)
		}
		if c.Org == 0 {
			c.Org = 1
		}
		switch c.Call {
		case "health":
			response, err := call(rpc.Conn, "/pluginv2.Diagnostics/CheckHealth", field(1, c.pluginContext()))
			if err != nil {
				emit(map[string]interface{}{"error": err.Error()})
				continue
			}
			ints, bytes := fields(response)
			emit(map[string]interface{}{"status": ints[1], "message": first(bytes[2]), "details": first(bytes[3])})
		case "resource":
			response, err := call(rpc.Conn, "/pluginv2.Resource/CallResource", c.resourceRequest())
			if err != nil {
				emit(map[string]interface{}{"error": err.Error()})
				continue
			}
			ints, bytes := fields(response)
			emit(map[string]interface{}{"code": ints[1], "body": first(bytes[3])})
		case "metrics":
			response, err := call(rpc.Conn, "/pluginv2.Diagnostics/CollectMetrics", field(1, c.pluginContext()))
			if err != nil {
				emit(map[string]interface{}{"error": err.Error()})
				continue
			}
			_, bytes := fields(response)
			_, payload := fields([]byte(first(bytes[1])))
			emit(map[string]interface{}{"prometheus": first(payload[1])})
		case "query":
			response, err := call(rpc.Conn, "/pluginv2.Data/QueryData", c.queryRequest())
			if err != nil {
				emit(map[string]interface{}{"error": err.Error()})
				continue
			}
			// responses: map<refId, DataResponse{frames=1 (Arrow files), error=2, status=4}>
			answers := map[string]interface{}{}
			_, entries := fields(response)
			for _, entry := range entries[1] {
				_, kv := fields(entry)
				ints, parts := fields([]byte(first(kv[2])))
				answers[first(kv[1])] = map[string]interface{}{
					"status": ints[4], "error": first(parts[2]), "frames": parts[1],
				}
			}
			emit(map[string]interface{}{"responses": answers})
		case "load":
			emit(load(rpc.Conn, c))
		case "pid":
			emit(map[string]interface{}{"pid": client.ReattachConfig().Pid, "exited": client.Exited()})
		default:
			fail(client, "unknown call %q", c.Call)
		}
	}
}

func main() {
	if len(os.Args) < 3 {
		fail(nil, "usage: go-plugin-client check|latency|script EXECUTABLE [N]")
	}
	switch os.Args[1] {
	case "check":
		check(os.Args[2])
	case "script":
		script(os.Args[2])
	case "latency":
		n := 300
		if len(os.Args) > 3 {
			fmt.Sscan(os.Args[3], &n)
		}
		latency(os.Args[2], n)
	default:
		fail(nil, "unknown mode %q", os.Args[1])
	}
}
