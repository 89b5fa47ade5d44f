package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/lessons"
)

// maxImportMessage bounds what a refused import says: the page shows it,
// whatever the file held.
const maxImportMessage = 600

// FuzzProgressImport uploads arbitrary progress files, as the page's form
// (multipart) and as a raw JSON body, and checks that
//   - ParseImport refuses with an ErrBadImport whose message is short,
//     whatever the file holds (unknown fields, long slugs, huge numbers);
//   - an accepted file names only real chapters, and exported again it
//     imports to the same progress (export/import round trip);
//   - the handler answers 303 for a file it accepts and saves, 400, 413 or
//     415 otherwise, never a 5xx, and its error page carries no script the
//     file brought along.
//
// Run it longer with
//
//	go test ./server -run '^$' -fuzz '^FuzzProgressImport$' -fuzztime 60s -parallel 1
func FuzzProgressImport(f *testing.F) {
	gin.SetMode(gin.TestMode)
	cat := realCatalog(f)
	first, last := cat.Chapters[0].Slug, cat.Chapters[len(cat.Chapters)-1].Slug
	f.Add(`{"version":1,"exported_at":"2026-11-25T10:00:00Z","chapters":{}}`, false)
	f.Add(fmt.Sprintf(`{"version":1,"exported_at":"2026-11-25T10:00:00Z","chapters":{%q:{"completed":true,"best_score":3,"last_score":2,"attempts":4,"total":5},%q:{"completed":true}}}`, first, last), true)
	f.Add(fmt.Sprintf(`{"version":1,"chapters":{%q:{"attempts":9223372036854775807,"best_score":1,"last_score":1}}}`, first), false)
	f.Add(fmt.Sprintf(`{"version":1,"chapters":{%q:{"attempts":1,"best_score":99}}}`, first), false)
	f.Add(fmt.Sprintf(`{"version":1,"chapters":{%q:{"total":-1}}}`, first), false)
	f.Add(`{"version":2,"chapters":{}}`, false)
	f.Add(`{"version":1}`, false)
	f.Add(`{"version":1,"chapters":{"<script>alert(1)</script>":{}}}`, true)
	f.Add(`{"version":1,"chapters":{}, "<script>alert(1)</script>`+strings.Repeat("x", 2000)+`":1}`, false)
	f.Add(`{"version":1,"chapters":{}} {}`, false)
	f.Add(`{"version":"1"}`, false)
	f.Add(``, true)
	f.Add(`null`, false)

	db := redistest.Open(f)
	_, base := newTestServer(f, Config{Redis: db.Client, Ready: db.Ready, RedisLabel: db.Describe(), Lessons: cat})
	client := &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	store := lessons.NewStore(nil, cat)
	f.Fuzz(func(t *testing.T, body string, multipartForm bool) {
		e, err := store.ParseImport(strings.NewReader(body))
		accepted := err == nil
		if err != nil {
			if !errors.Is(err, lessons.ErrBadImport) {
				t.Fatalf("refusal %v is not an ErrBadImport", err)
			}
			if len(err.Error()) > maxImportMessage {
				t.Fatalf("a refusal of %d bytes: %.200q…", len(err.Error()), err.Error())
			}
			if utf8.ValidString(body) && !utf8.ValidString(err.Error()) {
				t.Fatalf("the refusal cuts a character in two: %q", err.Error())
			}
		} else {
			for slug := range e.Chapters {
				if _, ok := cat.Chapter(slug); !ok {
					t.Fatalf("accepted progress for chapter %q that does not exist", slug)
				}
			}
			out, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			again, err := store.ParseImport(bytes.NewReader(out))
			if err != nil {
				t.Fatalf("an accepted file, exported again, is refused: %v\n%s", err, out)
			}
			out2, _ := json.Marshal(again)
			if !bytes.Equal(out, out2) {
				t.Fatalf("round trip changed the progress:\n%s\n%s", out, out2)
			}
			if field, _ := boundImport(e); field != "" {
				if !strings.HasPrefix(field, "chapters.") {
					t.Fatalf("boundImport names %q", field)
				}
				accepted = false
			}
		}

		var req *http.Request
		if multipartForm {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			fw, _ := mw.CreateFormFile("file", "crossroads-progress.json")
			io.WriteString(fw, body)
			mw.Close()
			req, _ = http.NewRequest(http.MethodPost, base+"/lessons/progress/import", &buf)
			req.Header.Set("Content-Type", mw.FormDataContentType())
		} else {
			req, _ = http.NewRequest(http.MethodPost, base+"/lessons/progress/import", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case res.StatusCode >= 500:
			t.Fatalf("import answered %d: %s", res.StatusCode, truncateFor(page))
		case accepted && res.StatusCode != http.StatusSeeOther:
			t.Fatalf("an accepted file got %d: %s", res.StatusCode, truncateFor(page))
		case !accepted && res.StatusCode != http.StatusBadRequest && res.StatusCode != http.StatusRequestEntityTooLarge:
			t.Fatalf("a refused file got %d: %s", res.StatusCode, truncateFor(page))
		}
		if n := foreignScripts(page); n > 0 {
			t.Fatalf("the answer has %d <script elements that are not the site's own: %s", n, truncateFor(page))
		}
	})
}
