package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// screenPop sends one screen pop and returns the body.
func screenPop(ctx context.Context, base, phone string) ([]byte, error) {
	return post(ctx, base+"/v1/screen-pop", `{"phone":"`+phone+`"}`, http.StatusOK)
}

// post sends a JSON body and wants status back.
func post(ctx context.Context, url, body string, want int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return b, fmt.Errorf("POST %s = %d, want %d: %s", url, resp.StatusCode, want, tail(string(b), 300))
	}
	return b, nil
}

// get fetches url and wants 200.
func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s = %d: %s", url, resp.StatusCode, tail(string(b), 300))
	}
	return b, err
}
