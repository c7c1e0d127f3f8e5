// Package ui is the agent's status page: plain HTML, CSS and ES modules,
// embedded in the binary and served by package api at / and /ui/. There is
// no build step, no CDN and no web font: the page must work on a box with
// no internet.
//
// Weight budget: every embedded asset together stays within Budget bytes,
// uncompressed (TestBudget sums them), so the page loads at once even over
// a slow SSH tunnel and stays small enough to read in one sitting.
package ui

import (
	"embed"
	"io/fs"
)

// Budget is the most the embedded assets may weigh together, uncompressed.
const Budget = 60 * 1024

//go:embed index.html style.css app.js
var files embed.FS

// FS holds the assets: index.html, style.css, app.js.
func FS() fs.FS { return files }

// Weight is the assets' total size in bytes.
func Weight() (int64, error) {
	var n int64
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	return n, err
}
