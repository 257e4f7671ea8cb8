// Package catch turns a panic into an error: GoMLX reports bad graphs and
// unknown backends by panicking, and gosde's host-level calls return errors.
package catch

import "fmt"

// Panic runs fn and returns what it panicked with as an error (the value
// itself when it is an error), or nil when fn returns normally.
func Panic(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	fn()
	return nil
}
