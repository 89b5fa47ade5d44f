package lessons

import (
	"html/template"
	"sync"
)

// maxQuizForms bounds the unanswered forms kept per chapter. Each learner
// sees the options in an order of their own, so a chapter of four questions
// of four options has 24⁴ possible forms; the cache keeps the ones learners
// actually have, a few kilobytes each, and forgets an arbitrary one when it
// is full.
const maxQuizForms = 1024

// formCache keeps rendered unanswered quiz forms by option order.
type formCache struct {
	mu sync.Mutex
	m  map[string]template.HTML
}

func (c *formCache) get(key string) (template.HTML, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	html, ok := c.m[key]
	return html, ok
}

func (c *formCache) put(key string, html template.HTML) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]template.HTML{}
	}
	if len(c.m) >= maxQuizForms {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = html
}

func (c *formCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
