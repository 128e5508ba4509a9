package main

import (
	"io"
	"net"
	"testing"
	"time"
)

// loopbackPair is a connected TCP pair on 127.0.0.1.
func loopbackPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return dialed, <-accepted
}

// A client that half-closes still gets the answer the server sends after reading to the end,
// and both ends of the splice are closed afterwards.
func TestSplicePassesHalfClose(t *testing.T) {
	client, proxyFront := loopbackPair(t)
	proxyBack, server := loopbackPair(t)
	done := make(chan struct{})
	go func() {
		splice(proxyFront, proxyBack, func(dir string, err error) { t.Errorf("%s: %v", dir, err) })
		close(done)
	}()
	// Deadlines bound a splice that loses the end of stream: the test then fails, not hangs.
	server.SetReadDeadline(time.Now().Add(10 * time.Second))
	client.SetReadDeadline(time.Now().Add(20 * time.Second))
	go func() {
		got, err := io.ReadAll(server) // until the client's end of stream arrives
		if err != nil {
			got = []byte(err.Error())
		}
		server.Write(append([]byte("echo: "), got...))
		server.Close()
	}()
	client.Write([]byte("hello"))
	client.(*net.TCPConn).CloseWrite()
	reply, err := io.ReadAll(client)
	if err != nil || string(reply) != "echo: hello" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	<-done
	client.Close()
}
