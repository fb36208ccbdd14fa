// The floor for bench/go-plugin.sh: a grpc-go server (what a Go SDK plugin is underneath)
// that answers CheckHealth and CallResource with fixed protobuf bytes, doing no work, so
// Grafana's client talking to it measures the transport alone. FLOOR_NETWORK=unix listens
// where go-plugin's servers listen on Linux and macOS (a Unix socket), tcp on 127.0.0.1 as
// on Windows and as the Rust plugin does. It serves go-plugin's health service and exits
// on GRPCController/Shutdown or when the client hangs up.
package main

import (
	"fmt"
	"io/ioutil"
	"net"
	"os"
	"path/filepath"

	"github.com/golang/protobuf/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// rawCodec passes the bytes of unknown methods through and leaves the health service's
// messages to protobuf.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	if raw, ok := v.(*[]byte); ok {
		return *raw, nil
	}
	return proto.Marshal(v.(proto.Message))
}
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	if raw, ok := v.(*[]byte); ok {
		*raw = append([]byte(nil), data...)
		return nil
	}
	return proto.Unmarshal(data, v.(proto.Message))
}
func (rawCodec) String() string { return "raw" }

var (
	healthOK = []byte{0x08, 0x01, 0x12, 0x02, 'o', 'k'}                        // status OK, message "ok"
	pong     = append([]byte{0x08, 0xc8, 0x01, 0x1a, 0x04}, []byte("pong")...) // code 200, body
	empty    = []byte{}
)

func answer(_ interface{}, stream grpc.ServerStream) error {
	var request []byte
	if err := stream.RecvMsg(&request); err != nil {
		return err
	}
	method, _ := grpc.MethodFromServerStream(stream)
	switch method {
	case "/pluginv2.Diagnostics/CheckHealth":
		return stream.SendMsg(&healthOK)
	case "/plugin.GRPCController/Shutdown":
		defer os.Exit(0)
		return stream.SendMsg(&empty)
	}
	return stream.SendMsg(&pong)
}

func main() {
	if os.Getenv("grafana_plugin_type") != "datasource" {
		fmt.Fprintln(os.Stderr, "This binary is a plugin. These are not meant to be executed directly.")
		os.Exit(1)
	}
	var listener net.Listener
	var err error
	if os.Getenv("FLOOR_NETWORK") == "unix" {
		dir, dirErr := ioutil.TempDir("", "go-plugin-floor")
		if dirErr != nil {
			panic(dirErr)
		}
		defer os.RemoveAll(dir)
		listener, err = net.Listen("unix", filepath.Join(dir, "plugin.sock"))
	} else {
		listener, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		panic(err)
	}
	server := grpc.NewServer(grpc.CustomCodec(rawCodec{}), grpc.UnknownServiceHandler(answer))
	healthServer := health.NewServer()
	healthServer.SetServingStatus("plugin", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(server, healthServer)
	fmt.Printf("1|2|%s|%s|grpc\n", listener.Addr().Network(), listener.Addr().String())
	server.Serve(listener)
}
