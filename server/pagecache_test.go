package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The home page is rendered and compressed once; a client that takes gzip
// gets the compressed bytes, one that does not the same page plain.
func TestHomePageIsServedFromItsCachedBytes(t *testing.T) {
	_, base := newTestServer(t, Config{})
	fetch := func(enc string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodGet, base+"/", nil)
		require.NoError(t, err)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, b
	}
	plainRes, plain := fetch("")
	assert.Equal(t, http.StatusOK, plainRes.StatusCode)
	assert.Empty(t, plainRes.Header.Get("Content-Encoding"))
	assert.Contains(t, string(plain), "<html")
	assert.NotEmpty(t, plainRes.Header.Get("Content-Security-Policy"), "the middleware still runs")
	gzRes, gz := fetch("br, gzip;q=0.8")
	assert.Equal(t, "gzip", gzRes.Header.Get("Content-Encoding"))
	assert.Contains(t, gzRes.Header.Values("Vary"), "Accept-Encoding")
	r, err := gzip.NewReader(bytes.NewReader(gz))
	require.NoError(t, err)
	unzipped, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, string(plain), string(unzipped), "compressed once, decoded it is the same page")
	refused, _ := fetch("gzip;q=0")
	assert.Empty(t, refused.Header.Get("Content-Encoding"))
}

func TestAcceptsGzip(t *testing.T) {
	for enc, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip": true, "gzip;q=0": false, "gzip; q=0.5": true,
		"*": true, "br": false, "x-gzip": true, "gzipx": false,
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept-Encoding", enc)
		assert.Equal(t, want, acceptsGzip(r), "%q", enc)
	}
}
