package remoteread

import (
	"net/http"
	"strings"
)

type httpPoster struct{}

func (httpPoster) post(url, body string) (int, error) {
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}
