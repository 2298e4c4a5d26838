package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// basicUsers verifies HTTP Basic credentials against bcrypt hashes.
type basicUsers struct {
	users map[string]credLine
	dummy []byte // verified against for unknown users, so timing says nothing
	cache *verifyCache
	sem   chan struct{}
}

func checkBcrypt(s string) error {
	if _, err := bcrypt.Cost([]byte(s)); err != nil {
		return fmt.Errorf("password hash: want a bcrypt hash ($2a$/$2b$/$2y$): %w", err)
	}
	return nil
}

func loadBasic(path string, cacheTTL time.Duration, cacheSize int, now func() time.Time) (*basicUsers, error) {
	lines, err := readCredFile(path, checkBcrypt)
	if err != nil {
		return nil, err
	}
	b := &basicUsers{
		users: make(map[string]credLine, len(lines)),
		cache: newVerifyCache(cacheTTL, cacheSize, now),
		sem:   make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
	}
	cost := bcrypt.DefaultCost
	for _, l := range lines {
		b.users[l.name] = l
		cost, _ = bcrypt.Cost([]byte(l.secret))
	}
	if b.dummy, err = bcrypt.GenerateFromPassword([]byte("minipacs-unknown-user"), cost); err != nil {
		return nil, fmt.Errorf("auth: basic users: %w", err)
	}
	return b, nil
}

// verify returns the user's entry when the password is right.
func (b *basicUsers) verify(ctx context.Context, user, password string) (*credLine, error) {
	if len(user) > 256 || len(password) > 72 {
		// bcrypt ignores (or refuses) bytes after the 72nd.
		return nil, errToken("bad user name or password")
	}
	key := b.cache.key(user, password)
	if b.cache.hit(key) {
		if l, ok := b.users[user]; ok {
			return &l, nil
		}
	}
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("auth: basic verification: %w", ctx.Err())
	}
	defer func() { <-b.sem }()
	l, ok := b.users[user]
	hash := b.dummy
	if ok {
		hash = []byte(l.secret)
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || !ok {
		return nil, errToken("bad user name or password")
	}
	b.cache.add(key)
	return &l, nil
}

// verifyCache remembers recent successful Basic verifications, keyed by an
// HMAC of user and password under a random per-process key: the cache
// holds nothing that helps guess a password.
type verifyCache struct {
	secret [32]byte
	ttl    time.Duration
	size   int
	now    func() time.Time
	mu     sync.Mutex
	m      map[[32]byte]time.Time
}

func newVerifyCache(ttl time.Duration, size int, now func() time.Time) *verifyCache {
	c := &verifyCache{ttl: ttl, size: size, now: now, m: map[[32]byte]time.Time{}}
	rand.Read(c.secret[:])
	return c
}

func (c *verifyCache) key(user, password string) [32]byte {
	h := hmac.New(sha256.New, c.secret[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *verifyCache) hit(k [32]byte) bool {
	if c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.m[k]
	if ok && c.now().Before(exp) {
		return true
	}
	delete(c.m, k)
	return false
}

func (c *verifyCache) add(k [32]byte) {
	if c.ttl <= 0 || c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.m) >= c.size {
		for k2, exp := range c.m {
			if !now.Before(exp) {
				delete(c.m, k2)
			}
		}
		for k2 := range c.m {
			if len(c.m) < c.size {
				break
			}
			delete(c.m, k2)
		}
	}
	c.m[k] = now.Add(c.ttl)
}
